"""scheduler: binds pending pods to nodes through a filter/score plugin framework.

The package is shaped like the Kubernetes scheduling framework:

- `pod.py` / `resources.py`: pure readers of Pod and Node dicts (requests, tolerations, affinity);
- `framework.py`: `Status`/`Code`, the `FilterPlugin` and `ScorePlugin` protocols, `NodeInfo`,
  and `schedule(pod, snapshot)` (filter -> score -> select) with upstream's failure messages;
- `plugins/`: one plugin per file (NodeName, NodeUnschedulable, TaintToleration, NodeAffinity,
  NodeSelector, NodeResourcesFit, LeastAllocated, BalancedAllocation);
- `cache.py`: nodes and the pods on them, with assume/forget for bindings not yet observed;
- `queue.py`: active, back-off and unschedulable pools, retried on cluster events;
- `scheduler.py`: the loop, talking to the cluster only through `Binder`, `EventRecorder` and
  `PodConditionWriter` protocols;
- `events.py`: the events.k8s.io/v1 Event objects the scheduler writes;
- `leaderelection.py`: the Lease state machine (pure) and a minimal elector over a `LeaseStore`;
- `inmemory.py`: an in-memory cluster implementing those protocols (tests, benchmarks);
- `options.py`, `app.py`, `__main__.py`: kube-scheduler's flags, the process body (`serve`), and
  the entry point, which stops with a clear message until `kubelab.client` exists.

Nothing here imports gRPC or the store; the real client plugs in behind the protocols.
"""
