"""scheduler: binds pending pods to nodes through a filter/score plugin framework.

The package is shaped like the Kubernetes scheduling framework:

- `pod.py` / `resources.py`: pure readers of Pod and Node dicts (tolerations, affinity; requests
  through the rule shared with the kubelet in `kubelab.api.resources`);
- `framework.py`: `Status`/`Code`, the `FilterPlugin` and `ScorePlugin` protocols, `NodeInfo`,
  and `schedule(pod, snapshot)` (filter -> score -> select) with upstream's failure messages;
- `plugins/`: one plugin per file (NodeName, NodeUnschedulable, TaintToleration, NodeAffinity,
  NodeSelector, NodeResourcesFit, LeastAllocated, BalancedAllocation);
- `cache.py`: nodes and the pods on them, with assume/forget for bindings not yet observed;
- `queue.py`: active, back-off and unschedulable pools, retried on cluster events;
- `scheduler.py`: the loop, talking to the cluster only through `Binder`, `EventRecorder` and
  `PodConditionWriter` protocols; bindings posted by a bounded pool beside the next cycle;
- `events.py`: the events.k8s.io/v1 Event objects the scheduler writes;
- `inmemory.py`: an in-memory cluster implementing those protocols, Leases included (tests,
  benchmarks);
- `options.py`, `app.py`, `__main__.py`: kube-scheduler's flags, the process body (`serve`,
  leader-elected with `kubelab.client.leaderelection`), and the entry point;
- `client_access.py`: the protocols over `kubelab.client` (the real process).

The scheduling decisions never touch gRPC or the store; the real client plugs in behind the
protocols.
"""
