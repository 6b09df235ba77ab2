"""The embedded lab: machines as network namespaces, process supervision, faults."""
