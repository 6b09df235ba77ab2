"""Declarations of the built-in kinds (one `KindInfo` each); the registry lists them."""
