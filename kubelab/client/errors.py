"""Errors of the client library.

The apiserver's failures arrive as the same classes the server raised (`kubelab.api.errors`:
NotFound, AlreadyExists, Conflict, Invalid, Gone, ...), rebuilt from the Status it sent.

    ApiError (kubelab.api.errors)
    └── Unavailable         no apiserver endpoint answered; `retryable` (try again later)
"""

# ruff: noqa: N818  (named like the Status reasons it mirrors)

from __future__ import annotations

from kubelab.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    Unauthorized,
)


class Unavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"
    retryable = True


__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "Unauthorized",
    "Unavailable",
]
