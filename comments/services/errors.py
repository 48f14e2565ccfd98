"""Errors the services raise; the API turns each kind into its HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

# What went wrong, in the words the API turns into an HTTP status (``api.errors.SERVICE_ERROR_STATUS``).
ErrorKind = Literal["invalid", "unauthorized", "not_found", "forbidden", "conflict", "rate_limited"]


class ServiceError(Exception):
    kind: ClassVar[ErrorKind] = "invalid"

    def __init__(self, code: str, message: str, fields: dict[str, Any] | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.details = details or {}  # extra keys in the error object (e.g. who decided first)


class Invalid(ServiceError):
    kind = "invalid"  # 422


class NotFound(ServiceError):
    kind = "not_found"  # 404


class Forbidden(ServiceError):
    kind = "forbidden"  # 403


class Conflict(ServiceError):
    kind = "conflict"  # 409


def invalid_field(field: str, code: str, message: str) -> Invalid:
    return Invalid(code, message, {field: [message]})
