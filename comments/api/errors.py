"""The API object (``api``) and the contract's error shape: ``{"error": {"code", "message", "fields"}}``, for every
/api/ error."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import current_app, jsonify, request
from flask_smorest import Api
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from comments.extensions import db
from comments.limiting import retry_after_seconds
from comments.services.errors import SERVICE_ERROR_STATUS, ServiceError

log = logging.getLogger(__name__)


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "snake_case error code"})
    message = ma.fields.String(required=True)
    # The body's key is "fields", the name of marshmallow's own attribute (an instance's, set in __init__).
    fields = ma.fields.Dict(metadata={"description": "per-field messages, for 422"})  # type: ignore[assignment]


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema, required=True)


# Werkzeug's names for the statuses the contract lists, as snake_case codes.
DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def _flatten_webargs_messages(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location (``{"json": {...}}``); clients want fields."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    fields: dict[str, Any] = {}
    for location, value in messages.items():
        if isinstance(value, dict):
            fields.update(value)
        else:
            fields[location] = value
    return fields


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
):
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(details or {})
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


class ContractApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        app = self._app
        app.register_error_handler(HTTPException, self.handle_http_exception)
        app.register_error_handler(ServiceError, self.handle_service_error)
        app.register_error_handler(Exception, self.handle_unexpected)

    def handle_service_error(self, error: ServiceError):
        status = SERVICE_ERROR_STATUS[error.kind]
        headers = {"Retry-After": str(getattr(error, "retry_after", 30))} if status in (429, 503) else None
        return error_response(status, error.code, error.message, error.fields, headers, error.details)

    def handle_http_exception(self, error: HTTPException):
        if not _wants_json():
            # Pages answer with their own HTML error page (an unknown address under /mod/ is the
            # dashboard's 404 too); elsewhere Werkzeug's.
            for prefix, page in current_app.extensions.get("comments.error_pages", []):
                if request.path.startswith(prefix):
                    return page(error)
            return error
        status = error.code or 500
        code = DEFAULT_CODES.get(status, "error")
        message = error.description or ""
        fields = None
        headers: dict[str, str] = {}
        data = getattr(error, "data", None) or {}
        if status == 400 and "messages" in data:
            # webargs says 400 only when the body is not JSON at all.
            code, message = "invalid_json", "The request body is not valid JSON."
        elif status == 422 and "messages" in data:
            fields = _flatten_webargs_messages(data["messages"])
            message = "Some fields are not valid."
        elif status == 413:
            limit = current_app.config.get("MAX_CONTENT_LENGTH")
            message = f"The request body is larger than {limit} bytes."
        elif status == 429:
            headers["Retry-After"] = str(retry_after_seconds())
            message = f"Too many requests ({error.description}). Try again later."
        elif status == 405:
            message = f"{request.method} is not allowed here."
        elif status == 404:
            message = "Nothing is found at this address."
        headers.update((data.get("headers") if isinstance(data, dict) else None) or {})
        return error_response(status, code, message, fields, headers)

    def handle_unexpected(self, error: Exception):
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        if isinstance(error, StaleDataError):
            # Another writer changed the row between this request's read and its write; theirs
            # stands, and the client is told to look again (views that can retry do so first).
            db.session.rollback()
            return error_response(
                409, "changed_meanwhile", "Someone else changed this meanwhile; nothing was changed. Load it again."
            )
        if isinstance(error, (OperationalError, InterfaceError)):
            log.error("database unavailable: %s", error)
            return error_response(
                503,
                "database_unavailable",
                "The database is not reachable; nothing was changed. Try again.",
                headers={"Retry-After": "5"},
            )
        if isinstance(error, RecursionError) and request.is_json:
            # JSON nested thousands deep (a few KiB) exhausts the decoder's recursion.
            return error_response(400, "invalid_json", "The request body is not valid JSON (nested too deeply).")
        log.exception("unexpected error on %s %s", request.method, request.path)
        if not _wants_json():
            raise error
        return error_response(500, "internal_error", "Something went wrong on our side.")


# The API object: create_app binds it and registers the blueprints on it.
api = ContractApi()
