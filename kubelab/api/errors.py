"""API errors, shaped like Kubernetes' `metav1.Status`, mapped to HTTP and gRPC once at the edges.

ApiError(code, reason, message)         any failure a client sees as a Status
├── NotFound                            404 NotFound
├── AlreadyExists                       409 AlreadyExists
├── Conflict                            409 Conflict (stale resourceVersion; retry after a re-read)
├── Invalid                             422 Invalid, with one cause per field problem
├── BadRequest                          400 BadRequest
├── Gone                                410 Expired (resourceVersion compacted; relist)
├── MethodNotAllowed                    405
├── Unauthorized                        401
├── Forbidden                           403
├── NotAcceptable / UnsupportedMedia    406 / 415
└── ServiceUnavailable                  503 (store unreachable; a retry can help)
"""

# ruff: noqa: N818  (class names are the Kubernetes Status reasons)

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One problem with one field: `field` is the path (`spec.containers[0].name`)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class ApiError(Exception):
    """A failure reported to the client as a Kubernetes Status object."""

    code = 500
    reason = "InternalError"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: tuple[Cause, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if details:
            status["details"] = details
        return status


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"
    retryable = True


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Gone(ApiError):
    code = 410
    reason = "Expired"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class NotImplementedYet(ApiError):
    code = 501
    reason = "NotImplemented"


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"
    retryable = True


ERRORS_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        NotFound,
        AlreadyExists,
        Conflict,
        Invalid,
        BadRequest,
        Gone,
        MethodNotAllowed,
        Unauthorized,
        Forbidden,
        NotAcceptable,
        UnsupportedMediaType,
        NotImplementedYet,
        ServiceUnavailable,
    )
}


def from_status(status: dict[str, Any]) -> ApiError:
    """Rebuild the error a Status object describes (clients use this on a failed call)."""
    cls = ERRORS_BY_REASON.get(str(status.get("reason", "")), ApiError)
    details = status.get("details") or {}
    causes = tuple(
        Cause(str(c.get("field", "")), str(c.get("message", "")), str(c.get("reason", "")))
        for c in details.get("causes") or []
    )
    err = cls(
        str(status.get("message", "")),
        kind=str(details.get("kind", "")),
        name=str(details.get("name", "")),
        group=str(details.get("group", "")),
        causes=causes,
    )
    if cls is ApiError:
        err.code = int(status.get("code", 500))
    return err
