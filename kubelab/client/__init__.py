"""The gRPC client every cluster component uses: CRUD, watch, informers, leader election."""
