"""Google's error shape, for every answer of the Perspective-compatible API that is not a 200:
``{"error": {"code": <HTTP status>, "message": "...", "status": "INVALID_ARGUMENT"}}``.

The blueprint's own handlers take these errors before the app's (which answer in the contract's
``{"error": {"code": "snake_case", ...}}`` shape for /api/): a Perspective client reads
``error.status`` and ``error.message``.
"""

from __future__ import annotations

import logging
import traceback

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from comments.classifier import ClassifierUnavailable
from comments.limiting import retry_after_seconds
from comments.services.errors import SERVICE_ERROR_STATUS, ServiceError
from comments.tasks.analyzer import AnalysisTimeout

log = logging.getLogger(__name__)

#: google.rpc.Code names of the HTTP statuses this API answers with.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

# The services' error kinds as Perspective answers them: a bad value is 400 INVALID_ARGUMENT
# (never 422), a missing or wrong key 403 PERMISSION_DENIED (never 401).
_KIND_STATUS = {**SERVICE_ERROR_STATUS, "invalid": 400, "unauthorized": 403}

#: Seconds a client is asked to wait when the classifier is not there (the first call starts loading
#: it: a few seconds; or it failed).
UNAVAILABLE_RETRY_SECONDS = 10


def google_error(status: int, message: str, retry_after: int | None = None) -> Response:
    response = jsonify({"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register(bp: Blueprint) -> None:
    bp.register_error_handler(ServiceError, _service_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(ClassifierUnavailable, _classifier_unavailable)
    bp.register_error_handler(AnalysisTimeout, _timed_out)
    bp.register_error_handler(Exception, _unexpected)


def _service_error(error: ServiceError) -> Response:
    status = _KIND_STATUS[error.kind]
    retry_after = getattr(error, "retry_after", 60) if status == 429 else None
    return google_error(status, error.message, retry_after)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 429:
        return google_error(
            429,
            f"Quota exceeded for this API key ({error.description}). Try again later.",
            retry_after_seconds(),
        )
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return google_error(400, f"Request payload size exceeds the limit: {limit} bytes.")
    if status == 405:
        return google_error(405, "This method is not allowed here: send a POST.")
    if status == 404:
        return google_error(404, "Nothing is found at this address.")
    return google_error(400 if 400 <= status < 500 else status, error.description or "Bad request.")


def _classifier_unavailable(error: ClassifierUnavailable) -> Response:
    # The reason (a file, a setting) is for the operator's log, not for clients; never the text.
    log.warning("analysis unavailable: %s", type(error).__name__)
    return google_error(503, "The classifier is not available right now; try again later.", UNAVAILABLE_RETRY_SECONDS)


def _timed_out(error: AnalysisTimeout) -> Response:
    # A ClassifierUnavailable too, but the model is there and busy: try again soon.
    return google_error(503, "The classifier did not answer in time; try again.", 1)


def _unexpected(error: Exception) -> Response:
    if isinstance(error, OperationalError | InterfaceError):
        log.error("database unavailable: %s", type(error).__name__)
        return google_error(503, "The database is not reachable; try again.", 5)
    if isinstance(error, RecursionError):
        return google_error(400, "Invalid JSON payload received: nested too deeply.")
    # The type and where, without the message: an exception's message may quote the analysed text.
    log.error(
        "unexpected %s in the Perspective-compatible API:\n%s",
        type(error).__name__,
        "".join(traceback.format_tb(error.__traceback__)),
    )
    return google_error(500, "Internal error.")
