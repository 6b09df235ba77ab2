"""Generated protobuf and gRPC modules; regenerate with scripts/genproto.py."""
