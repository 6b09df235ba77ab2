"""apiserver: Kubernetes REST (for kubectl) and gRPC (for components) over one set of handlers."""
