"""Errors of the apiserver process's own edges (the store); API errors live in kubelab.api.errors.

    StoreError(retryable)      the store could not be reached or refused the call
    └── Compacted              a revision the store has compacted away (clients get 410 Gone)

The handlers map these to `kubelab.api.errors` once: StoreError -> ServiceUnavailable (503),
Compacted -> Gone (410).
"""

from __future__ import annotations


class StoreError(Exception):
    """The store could not be reached or answered an error; `retryable` says if retrying helps."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Compacted(StoreError):  # noqa: N818 - etcd's own word
    """A watch or read asked for a revision the store has compacted away."""

    def __init__(self, revision: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {revision} has been compacted (oldest kept: {compact_revision})",
            retryable=False,
        )
        self.revision = revision
        self.compact_revision = compact_revision
