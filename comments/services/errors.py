"""Errors the services raise; the API and the dashboard answer each kind with its HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

# What went wrong, in the words the API and the dashboard turn into an HTTP status (the table below).
ErrorKind = Literal["invalid", "unauthorized", "not_found", "forbidden", "conflict", "rate_limited"]

SERVICE_ERROR_STATUS: dict[ErrorKind, int] = {
    "invalid": 422,
    "unauthorized": 401,
    "not_found": 404,
    "forbidden": 403,
    "conflict": 409,
    "rate_limited": 429,
}


class ServiceError(Exception):
    kind: ClassVar[ErrorKind] = "invalid"

    def __init__(
        self, code: str, message: str, fields: dict[str, Any] | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.details = details or {}  # extra keys in the error object (e.g. who decided first)


class Invalid(ServiceError):
    kind = "invalid"  # 422


class Unauthorized(ServiceError):
    kind = "unauthorized"  # 401


class NotFound(ServiceError):
    kind = "not_found"  # 404


class Forbidden(ServiceError):
    kind = "forbidden"  # 403


class Conflict(ServiceError):
    kind = "conflict"  # 409


def invalid_field(field: str, code: str, message: str) -> Invalid:
    return Invalid(code, message, {field: [message]})
