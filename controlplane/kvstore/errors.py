"""Errors of the kvstore, each carrying the gRPC status code and message etcd gives for it.

Hierarchy:

    KvError                      base; `code` (a gRPC status name) and `message` (etcd's text)
    ├── InvalidRequestError           bad client input (INVALID_ARGUMENT); retrying cannot help
    ├── RevisionError            compacted or future revision (OUT_OF_RANGE)
    ├── LeaseError               unknown lease (NOT_FOUND), existing lease, too large TTL
    ├── UnavailableError              no leader, timed out, too many requests, stopped; `retryable`
    │                            says whether a retry can help, `unknown_outcome` whether a write
    │                            may or may not have been applied
    └── ConfigError              a bad flag or file given to `python -m controlplane.kvstore`

The names of the codes are those of `grpc.StatusCode` so the gRPC edge maps them once, without
this module importing grpc.
"""

from __future__ import annotations


class KvError(Exception):
    """An etcd-shaped failure: `code` is a grpc.StatusCode name, `message` etcd's exact text."""

    code = "UNKNOWN"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequestError(KvError):
    code = "INVALID_ARGUMENT"


class RevisionError(KvError):
    code = "OUT_OF_RANGE"


class LeaseError(KvError):
    code = "NOT_FOUND"


class UnavailableError(KvError):
    code = "UNAVAILABLE"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        *,
        retryable: bool = True,
        unknown_outcome: bool = False,
    ) -> None:
        super().__init__(message, code)
        self.retryable = retryable
        self.unknown_outcome = unknown_outcome


class ConfigError(KvError):
    code = "INVALID_ARGUMENT"


def empty_key() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: key is not provided")


def key_not_found() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: key not found")


def value_provided() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: value is provided")


def lease_provided() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: lease is provided")


def duplicate_key() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: duplicate key given in txn request")


def too_many_ops() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: too many operations in txn request")


def request_too_large() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: request is too large")


def invalid_sort_option() -> InvalidRequestError:
    return InvalidRequestError("etcdserver: invalid sort option")


def compacted() -> RevisionError:
    return RevisionError("etcdserver: mvcc: required revision has been compacted")


def future_revision() -> RevisionError:
    return RevisionError("etcdserver: mvcc: required revision is a future revision")


def lease_not_found() -> LeaseError:
    return LeaseError("etcdserver: requested lease not found")


def lease_exists() -> LeaseError:
    return LeaseError("etcdserver: lease already exists", "FAILED_PRECONDITION")


def lease_ttl_too_large() -> LeaseError:
    return LeaseError("etcdserver: too large lease TTL", "OUT_OF_RANGE")


def no_leader() -> UnavailableError:
    return UnavailableError("etcdserver: no leader")


def timed_out() -> UnavailableError:
    """The outcome of the write is unknown: it may still be applied later."""
    return UnavailableError("etcdserver: request timed out", unknown_outcome=True)


def leader_changed() -> UnavailableError:
    """The leader changed while the write was in flight: its outcome is unknown."""
    return UnavailableError("etcdserver: leader changed", unknown_outcome=True)


def too_many_requests() -> UnavailableError:
    return UnavailableError("etcdserver: too many requests", "RESOURCE_EXHAUSTED")


def stopped() -> UnavailableError:
    return UnavailableError("etcdserver: server stopped")


def corrupt() -> KvError:
    """This replica truncated applied log entries: its state may differ from the others'."""
    return KvError("etcdserver: corrupt cluster", "DATA_LOSS")
