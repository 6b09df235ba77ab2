"""kubelab: a Kubernetes-style cluster lab on one Linux machine.

The shared library (`kubelab.api`, `kubelab.client`, the generated `kubelab.gen`) and the host
CLI (`kubelab.cli`, `kubelab.lab`). Cluster processes live in `controlplane` and `node_agent`.
"""

__version__ = "0.1.0"
