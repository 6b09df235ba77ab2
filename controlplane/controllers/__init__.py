"""controller-manager: the leader-elected reconcile loops (ReplicaSet, Deployment, ...)."""
