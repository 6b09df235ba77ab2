"""The Kubernetes object model: metadata, kinds, validation, defaulting, selectors, quantities.

Pure: imports only the standard library and declared data libraries, never gRPC, the store or
the kernel (an import-linter contract enforces it).
"""
