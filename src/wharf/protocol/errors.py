"""Errors that travel back to the caller, and the one table that maps them to transports."""

from __future__ import annotations

from typing import Any

BAD_DATA = "MICROSERVICE_BAD_DATA"
INTERNAL_ERROR = "MICROSERVICE_INTERNAL_ERROR"
BAD_PARAMETER = "MICROSERVICE_BAD_PARAMETER"
BAD_METRIC = "MICROSERVICE_BAD_METRIC"
BAD_METADATA = "MICROSERVICE_BAD_METADATA"
NOT_READY = "MICROSERVICE_NOT_READY"

# Upstream's own ``status.info`` texts (seldon-core 1.19.0's Python wrapper). Clients and alerts
# match on them, so every answer starts with the text as upstream writes it; Wharf's detail, when
# it has one, follows after ": " (``upstream_text``).
CANT_FIND_JSON = "Can't find JSON in data"
INVALID_REQUEST = "Invalid request data type: {request}"
INVALID_JSON = "Invalid JSON: {error}"
BAD_METRIC_TEXT = "Bad metric created during request: {metrics}"
METADATA_UNAVAILABLE = "Model metadata unavailable"
UNKNOWN_RETURN = "Unknown data type returned as payload (must be list or np array):{result}"
# Werkzeug's texts, which upstream's catch-all handler answers with 500 for a path or method
# the Flask app does not serve.
NOT_FOUND_TEXT = (
    "404 Not Found: The requested URL was not found on the server. If you entered the URL "
    "manually please check your spelling and try again."
)
METHOD_NOT_ALLOWED_TEXT = "405 Method Not Allowed: The method is not allowed for the requested URL."


def upstream_text(upstream: str, detail: str | None = None) -> str:
    """Upstream's text unchanged, then Wharf's detail after ": " when there is one."""
    return f"{upstream}: {detail}" if detail else upstream


class MicroserviceError(Exception):
    """An error whose message, HTTP status and reason reach the client.

    Serialised as upstream does: ``{"status": {"status": 1, "info": ..., "code": -1, "reason": ...}}``;
    the HTTP status carries the real code, the body always says ``-1``.
    """

    def __init__(
        self,
        message: str,
        status_code: int = 400,
        payload: dict[str, Any] | None = None,
        reason: str = BAD_DATA,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.payload = payload
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.message, self.reason)


class NotImplementedByModel(MicroserviceError):
    """The user class does not provide the method a request needs (HTTP 400, like upstream)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400, reason=BAD_DATA)


def error_body(info: str, reason: str) -> dict[str, Any]:
    return {"status": {"status": 1, "info": info, "code": -1, "reason": reason}}


def as_microservice_error(exc: BaseException) -> MicroserviceError:
    """Normalise any exception raised while serving into a MicroserviceError.

    Exceptions from the upstream ``seldon_core`` package (when a user still imports it) are
    recognised by shape, so they keep their status code and reason.
    """
    if isinstance(exc, MicroserviceError):
        return exc
    status = getattr(exc, "status_code", None)
    to_dict = getattr(exc, "to_dict", None)
    if isinstance(status, int) and callable(to_dict):
        message = getattr(exc, "message", None) or str(exc)
        body = to_dict() or {}
        reason = (body.get("status") or {}).get("reason") or BAD_DATA
        return MicroserviceError(str(message), status, reason=reason)
    return MicroserviceError(str(exc), 500, reason=INTERNAL_ERROR)


# One table for both transports: the HTTP status a failure gets, and the gRPC status code name
# for it. MLServer sends every gRPC failure as INVALID_ARGUMENT; we keep the distinction.
_GRPC_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# gRPC's status codes by name (grpc/doc/statuscodes.md)
GRPC_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
GRPC_CODE_NAMES = {code: name for name, code in GRPC_CODES.items()}


def grpc_code(http_status: int) -> int:
    """The gRPC status code a failure with this HTTP status is answered with."""
    if http_status in _GRPC_BY_HTTP:
        return GRPC_CODES[_GRPC_BY_HTTP[http_status]]
    return GRPC_CODES["INVALID_ARGUMENT" if 400 <= http_status < 500 else "INTERNAL"]


_HTTP_BY_GRPC = {GRPC_CODES[name]: status for status, name in _GRPC_BY_HTTP.items()}


def http_status_for_grpc(code: int) -> int:
    """The HTTP status for a gRPC status code (the reverse of ``grpc_code``)."""
    return _HTTP_BY_GRPC.get(code, 500)
