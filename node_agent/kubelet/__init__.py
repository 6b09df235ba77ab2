"""kubelet: registers the Node, runs pods as processes in network namespaces, probes them."""
