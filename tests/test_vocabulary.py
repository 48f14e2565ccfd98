"""Each vocabulary has one home; the places that must agree with it do.

Homes: ``comments.models`` for the data's words (statuses, queues, report reasons, delivery
statuses, webhook events, reason kinds and effects, MAX_ID), the classifier package for its labels,
``services.validation`` for the patterns of slugs and reason filters, ``services.moderation`` for
reason codes and their plain words.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import get_args

import pytest

import comments
from comments.classifier import DETOXIFY_LABELS
from comments.dashboard.views.template_helpers import REASON_FILTERS
from comments.models import (
    AUTHOR_STATUS_VALUES,
    DELIVERY_STATUS_VALUES,
    QUEUE_VALUES,
    QUEUES_WHERE,
    REPORT_REASONS,
    STATUS_VALUES,
    WEBHOOK_EVENTS,
    Author,
    Comment,
    ReasonEffect,
    ReasonKind,
    Report,
    WebhookDelivery,
)
from comments.perspective.errors import STATUS_NAMES as PERSPECTIVE_STATUS_NAMES
from comments.services import accounts, moderation, sites
from comments.services.errors import SERVICE_ERROR_STATUS, ErrorKind, ServiceError
from comments.services.review import queue as review_queue
from comments.services.validation import REASON_FILTER_PATTERN, SLUG_PATTERN
from comments.services.webhooks import outbox as webhooks
from comments.widget import STATIC

PACKAGE = Path(comments.__file__).resolve().parent


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _check_text(table: type, name: str) -> str:
    return next(str(c.sqltext) for c in table.__table__.constraints if c.name == f"ck_{table.__tablename__}_{name}")


def _openapi_enums(spec: dict) -> dict[str, list]:
    """Every enum of the OpenAPI document, by where it is (``…/properties/reason``)."""
    found: dict[str, list] = {}

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if "enum" in node:
                found[where] = node["enum"]
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(spec, "")
    return found


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").json


# --- report reasons -------------------------------------------------------------------------------


def test_report_reasons_agree_in_the_api_and_the_table(spec):
    assert spec["components"]["schemas"]["ReportCreate"]["properties"]["reason"]["enum"] == list(REPORT_REASONS)
    assert _check_text(Report, "reason_known") == f"reason in ({', '.join(map(repr, REPORT_REASONS))})"


def test_the_widget_gets_its_report_reasons_from_the_server(client):
    script = client.get("/widget/embed.js").get_data(as_text=True)
    declared = re.search(r"var REASONS = (.*);", script).group(1)
    assert json.loads(declared) == list(REPORT_REASONS)
    source = (STATIC / "embed.js").read_text()
    assert "var REASONS = __REPORT_REASONS__;" in source
    assert not re.search(r"\[\s*\"spam\"", source), "a second list of report reasons in embed.js"


def test_the_widget_has_words_for_every_report_reason_in_every_language():
    source = (STATIC / "embed.js").read_text()
    languages = re.findall(r"^    ([a-z]{2}): \{$", source, re.MULTILINE)
    assert len(languages) >= 3
    for reason in REPORT_REASONS:
        spelled = re.findall(rf"\b{reason}: \"[^\"]+\"", source)
        assert len(spelled) == len(languages), reason


# --- statuses and queues --------------------------------------------------------------------------


# The schemas whose ``status`` is an author's (``AuthorStatus``), not a comment's.
AUTHOR_STATUS_SCHEMAS = ("AuthorBrief", "Author", "AuthorStatusChange")


def test_statuses_agree_in_the_api_and_the_table(spec):
    enums = {where: enum for where, enum in _openapi_enums(spec).items() if where.endswith("/properties/status")}
    of_authors = {f"/components/schemas/{name}/properties/status" for name in AUTHOR_STATUS_SCHEMAS}
    assert of_authors <= set(enums) and all(enums[where] == list(AUTHOR_STATUS_VALUES) for where in of_authors)
    # Google's error shape (the Perspective-compatible routes): google.rpc.Code names, not a comment's.
    google = "/components/schemas/PerspectiveErrorDetail/properties/status"
    assert enums.pop(google) == sorted(set(PERSPECTIVE_STATUS_NAMES.values()))
    status_enums = [enum for where, enum in enums.items() if where not in of_authors]
    assert status_enums and all(enum == list(STATUS_VALUES) for enum in status_enums)
    assert _check_text(Comment, "status_known") == f"status in ({', '.join(map(repr, STATUS_VALUES))})"
    assert _check_text(Author, "status_known") == f"status in ({', '.join(map(repr, AUTHOR_STATUS_VALUES))})"


def test_queues_agree_in_the_api_the_indexes_and_the_services(spec):
    queue = spec["paths"]["/api/v1/moderation/queue"]["get"]["parameters"]
    assert next(p["schema"]["enum"] for p in queue if p["name"] == "queue") == list(QUEUE_VALUES)
    assert set(QUEUES_WHERE) == set(QUEUE_VALUES)
    assert review_queue.QUEUES == QUEUE_VALUES


def test_delivery_statuses_agree_in_the_api_the_table_and_the_outbox(spec):
    deliveries = spec["paths"]["/api/v1/sites/{site_slug}/webhooks/{webhook_id}/deliveries"]["get"]["parameters"]
    enum = next(p["schema"]["enum"] for p in deliveries if p["name"] == "status")
    assert [s for s in enum if s is not None] == list(DELIVERY_STATUS_VALUES)
    assert _check_text(WebhookDelivery, "status_known") == f"status in ({', '.join(map(repr, DELIVERY_STATUS_VALUES))})"
    assert (webhooks.PENDING, webhooks.DELIVERED, webhooks.FAILED) == DELIVERY_STATUS_VALUES


def test_status_events_are_webhook_events():
    assert set(webhooks.STATUS_EVENTS) <= set(STATUS_VALUES)
    assert set(webhooks.STATUS_EVENTS.values()) <= set(WEBHOOK_EVENTS)


# Modules where a status's word is also another vocabulary's: audit actions ("deleted"), the daily
# figures ("held", "rejected") and the dashboard's outcome of a decision ("approved", "rejected").
# There, only a literal used as a status (compared with, passed as or assigned to a status) counts.
# Queue names are ``models.Queue`` and decisions' actions ``models.DecisionAction`` everywhere.
SHARED_WORDS = {
    "services/figures.py": "the daily figures (ModerationDay's columns)",
    "services/authors.py": "the audit action 'deleted'",
    "dashboard/views/decisions.py": "the outcome of a decision, a class of its confirmation",
}


def _about_status(node: ast.AST) -> bool:
    """An expression that names a status: ``x.status``, ``old_status``, ``row["to_status"]``."""
    if isinstance(node, ast.Attribute):
        return "status" in node.attr
    if isinstance(node, ast.Name):
        return "status" in node.id
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return isinstance(node.slice.value, str) and "status" in node.slice.value
    return False


def _status_words(node: ast.AST) -> list[ast.Constant]:
    """The status words in a literal or a tuple, list or set of literals."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [item for item in items if isinstance(item, ast.Constant) and item.value in STATUS_VALUES]


def status_literals(tree: ast.Module, *, everywhere: bool) -> list[int]:
    """Lines of ``tree`` that spell a status as a string: every status word when ``everywhere``,
    else only those used as a status."""
    lines: set[int] = set()
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        used_as_status: list[ast.Constant] = []
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_about_status(side) for side in sides):
                used_as_status += [word for side in sides for word in _status_words(side)]
        elif isinstance(node, ast.keyword) and node.arg and "status" in node.arg:
            used_as_status += _status_words(node.value)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            # ``x.status = "held"``, and a second home: ``HELD = "held"``.
            if node.value is not None and any(
                _about_status(t) or (isinstance(t, ast.Name) and t.id.lower() in STATUS_VALUES) for t in targets
            ):
                used_as_status += _status_words(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and "status" in key.value:
                    used_as_status += _status_words(value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "in_"
            and _about_status(node.func.value)
        ):
            used_as_status += [word for arg in node.args for word in _status_words(arg)]
        elif (
            everywhere and isinstance(node, ast.Constant) and node.value in STATUS_VALUES and id(node) not in docstrings
        ):
            used_as_status.append(node)
        lines.update(word.lineno for word in used_as_status)
    return sorted(lines)


def test_no_module_spells_a_status_as_a_string():
    """``Status.X`` names a status everywhere but in ``models`` (SQL text, as in the migrations, may
    spell them; it is not a Python string compared with a status)."""
    found = {
        name: lines
        for name, tree in _modules().items()
        if name != "models.py"
        for lines in [status_literals(tree, everywhere=name not in SHARED_WORDS)]
        if lines
    }
    assert found == {}


def test_the_status_literal_check_finds_them():
    snippet = ast.parse("""
if comment.status == "held": pass
change(comment, to_status="rejected")
query.where(Comment.status.in_(("published", "deleted")))
PENDING = "pending"
event = {"from_status": "held"}
queue = "held"
""")
    assert status_literals(snippet, everywhere=False) == [2, 3, 4, 5, 6]
    assert status_literals(snippet, everywhere=True) == [2, 3, 4, 5, 6, 7]


def test_the_shared_words_allowance_is_still_needed():
    modules = _modules()
    assert all(status_literals(modules[name], everywhere=True) for name in SHARED_WORDS)


# --- classifier labels ----------------------------------------------------------------------------


def test_the_settings_know_the_classifier_labels():
    assert sites.CLASSIFIER_LABELS == DETOXIFY_LABELS
    assert set(sites.DEFAULT_SETTINGS["thresholds"]) == set(DETOXIFY_LABELS)
    assert REASON_FILTERS[: len(DETOXIFY_LABELS)] == DETOXIFY_LABELS


def test_no_module_lists_the_labels_again():
    """A tuple of label names outside ``classifier.base`` is a second list. (The Jigsaw checkpoint's
    class names, "toxic" ... "identity_hate", are another vocabulary that shares three words.)"""
    for name, tree in _modules().items():
        if name == "classifier/base.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if "toxic" not in words:
                    assert len(set(words) & set(DETOXIFY_LABELS)) < 2, f"{name}:{node.lineno}"


# --- reason codes, kinds and effects --------------------------------------------------------------


def _reasons_written() -> dict[str, set[str]]:
    """The literal values of ``code``, ``kind`` and ``effect`` in every dict display of a reason (a kind and a code)."""
    found: dict[str, set[str]] = {"code": set(), "kind": set(), "effect": set()}
    for tree in _modules().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                # A code handed to the writer of a reason (``readers.set_status(..., code="ban")``).
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        found["code"].add(keyword.value.value)
            if isinstance(node, ast.FunctionDef):
                # ... and its default (``code: str = "author_status"``).
                arguments = node.args
                for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
                    if arg.arg == "code" and isinstance(default, ast.Constant):
                        found["code"].add(default.value)
            if not isinstance(node, ast.Dict):
                continue
            entries = {
                key.value: value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant)
            }
            if "code" not in entries or "kind" not in entries:
                continue
            for field, values in found.items():
                value = entries.get(field)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    values.add(value.value)
    return found


def test_every_reason_code_has_plain_words_and_every_word_a_code():
    written = _reasons_written()
    assert written["code"] == set(moderation.REASON_TEXT)
    assert all(moderation.REASON_TEXT.values())


def test_reason_kinds_and_effects_are_the_declared_ones():
    written = _reasons_written()
    assert written["kind"] and written["kind"] <= set(get_args(ReasonKind))
    assert written["effect"] <= set(get_args(ReasonEffect))
    assert {moderation.HOLD, moderation.REJECT, moderation.NOTE} == set(get_args(ReasonEffect))


def test_the_queue_filters_are_labels_and_known_codes():
    assert set(moderation.FILTER_REASON_CODES) <= set(moderation.REASON_TEXT)
    assert (*DETOXIFY_LABELS, *moderation.FILTER_REASON_CODES) == REASON_FILTERS
    assert all(REASON_FILTER_PATTERN.fullmatch(code) for code in REASON_FILTERS)


def test_an_unknown_code_is_spelled_out():
    assert moderation.reason_text("repeat_post") == "Same text posted under another article"
    assert moderation.reason_text("some_new_rule") == "Some new rule"


# --- error kinds ----------------------------------------------------------------------------------


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_every_kind_of_service_error_has_an_http_status():
    kinds = {error.kind for error in _subclasses(ServiceError)}
    assert accounts.TooManyAttempts in _subclasses(ServiceError)
    assert kinds == set(get_args(ErrorKind))
    assert kinds == set(SERVICE_ERROR_STATUS)  # and no status for a kind nothing raises


# --- patterns -------------------------------------------------------------------------------------


def test_the_api_checks_slugs_and_reason_filters_with_the_one_pattern_of_each(spec):
    queue = spec["paths"]["/api/v1/moderation/queue"]["get"]["parameters"]
    patterns = {p["name"]: p["schema"].get("pattern") for p in queue}
    assert patterns["site"] == SLUG_PATTERN.pattern and patterns["reason"] == REASON_FILTER_PATTERN.pattern


def test_no_module_spells_the_patterns_again():
    for name, tree in _modules().items():
        if name == "services/validation.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert "[a-z0-9-]{1,64}" not in node.value and "[a-z_]{1,40}" not in node.value, f"{name}:{node.lineno}"
