"""``POST /v1alpha1/comments:analyze``, ``POST /v1alpha1/comments:suggestscore`` and the discovery
document, as Google's Perspective API answers them. The views stay thin: the key (``hostauth``),
the body (``schemas``), the rules (``services.analysis``), the scorer (``tasks.analyzer``)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, current_app, g, jsonify, request

from comments import metrics
from comments.api.hostauth import authenticate, bearer_token
from comments.limiting import client_ip, limiter
from comments.models import ApiKey
from comments.perspective import discovery, errors
from comments.perspective.schemas import (
    UNKNOWN_FIELD,
    AnalyzeCommentRequestSchema,
    SuggestCommentScoreRequestSchema,
    first_problem,
)
from comments.services import analysis, apikeys
from comments.services.errors import Forbidden, ServiceError
from comments.tasks import analyzer

bp = Blueprint("perspective", __name__)
errors.register(bp)

SCOPE = apikeys.ANALYZE_SCOPE


def _raw_key() -> str | None:
    """Google's ``?key=``, or ``Authorization: Bearer`` (as the host API takes its keys)."""
    return request.args.get("key") or bearer_token()


def _quota_key() -> str:
    """Quotas count per API key (a hash of it: the key itself stays out of the limiter's store);
    a request without one counts against its client's address."""
    raw = _raw_key()
    if not raw:
        return f"ip:{client_ip()}"
    return "key:" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]


quota = limiter.shared_limit(lambda: current_app.config["RATELIMIT_ANALYZE"], scope="perspective", key_func=_quota_key)


# Google's own sentences, which Perspective clients may show or match.
_KEY_MISSING = "The request is missing a valid API key."
_KEY_INVALID = "API key not valid. Please pass a valid API key."


def _caller() -> ApiKey:
    """The API key sent, with the analyze scope, or 403 PERMISSION_DENIED (as Google answers a
    missing key; a wrong key counts against the client's failure budget, as on the host API)."""
    raw = _raw_key()
    try:
        key = authenticate(raw)
    except ServiceError as exc:
        if exc.kind != "unauthorized":
            raise  # past the failure budget: 429
        raise Forbidden("api_key_invalid", _KEY_INVALID if raw else _KEY_MISSING) from None
    g.perspective_key = key.prefix
    if not key.has_scope(SCOPE):
        raise Forbidden("scope_missing", f"This API key does not have the '{SCOPE}' scope.")
    apikeys.touch(key)
    return key


def _body(schema: ma.Schema) -> dict[str, Any]:
    try:
        data = json.loads(request.get_data(cache=False))
    except ValueError as exc:  # also bytes that are not UTF-8
        raise analysis.invalid_argument(f"Invalid JSON payload received. {type(exc).__name__}.") from None
    if not isinstance(data, dict):
        raise analysis.invalid_argument("Invalid JSON payload received. Expected an object.")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ma.ValidationError as exc:
        path, message = first_problem(exc.messages)
        if message == UNKNOWN_FIELD:
            parent, _, name = path.rpartition(".")
            where = f" at '{parent}'" if parent else ""
            message = f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'
        else:
            message = f"Invalid value at '{path}': {message}"
        raise analysis.invalid_argument(message) from None
    return loaded


@bp.post("/v1alpha1/comments:analyze")
@quota
def analyze() -> Response:
    _caller()
    data = _body(AnalyzeCommentRequestSchema())
    plan = analysis.prepare(data, model_type=current_app.config["CLASSIFIER_MODEL_TYPE"])
    started = time.perf_counter()
    # The process's shared scorer: ClassifierUnavailable (503) with scoring off or the model not
    # loaded yet, AnalysisTimeout (503) past the timeout.
    scored = analyzer.analyze(analysis.texts_to_score(plan), timeout=current_app.config["ANALYZE_TIMEOUT_MS"] / 1000)
    metrics.PERSPECTIVE_SECONDS.observe(time.perf_counter() - started)
    return jsonify(analysis.respond(plan, scored))


@bp.post("/v1alpha1/comments:suggestscore")
@quota
def suggestscore() -> Response:
    key = _caller()
    data = _body(SuggestCommentScoreRequestSchema())
    analysis.record_feedback(key, data)
    # The contract's answer: the clientToken echoed, nothing else.
    return jsonify({"clientToken": data["clientToken"]} if "clientToken" in data else {})


@bp.route("/v1alpha1/comments:<name>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def other_method(name: str) -> Response:
    """Any other method or address under ``comments:``, answered in Google's shape (a routing
    error would otherwise get Werkzeug's HTML page)."""
    if name in ("analyze", "suggestscore"):
        return errors.google_error(405, f"comments:{name} takes a POST, not a {request.method}.")
    return errors.google_error(404, f"Method not found: comments:{name}.")


@bp.get("/$discovery/rest")
def discovery_document() -> Response:
    version = request.args.get("version", discovery.VERSION)
    if version != discovery.VERSION:
        return errors.google_error(404, f"Discovery document not found for API service: version {version}.")
    return jsonify(discovery.document(request.host_url))


@bp.after_request
def _count(response: Response) -> Response:
    # Per key (its public prefix; "-" before a key is known) and method, by HTTP status.
    method = (request.endpoint or "").rpartition(".")[2] or "-"
    metrics.PERSPECTIVE_REQUESTS.labels(
        key=g.get("perspective_key", "-"), method=method, code=response.status_code
    ).inc()
    return response
