"""kvstore: the cluster's etcd, a Raft-replicated MVCC store (pysyncobj) speaking etcd v3 gRPC."""
