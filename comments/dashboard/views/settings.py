"""A site's moderation settings: the form, its threshold preview, and saving through
``sites.update_settings`` (the API's rules, and its errors shown on the form)."""

from __future__ import annotations

from typing import Any

from flask import make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from comments.dashboard.views.common import bp, login_required, moderated_site
from comments.models import Moderator, Site
from comments.services import parsing, stats
from comments.services.audit import Actor
from comments.services.errors import Invalid
from comments.services.review.access import visible_sites
from comments.services.sites import (
    CLASSIFIER_LABELS,
    PREMODERATION_MODES,
    effective_settings,
    update_settings,
)


@bp.get("/settings")
@login_required
def settings_index(moderator: Moderator) -> Response | str:
    sites = visible_sites(moderator)
    if len(sites) == 1:
        return redirect(url_for("dashboard.site_settings", site_slug=sites[0].slug))
    return render_template("dashboard/settings_index.html", moderator=moderator, sites=sites)


def _settings_from_form(form: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The form's fields as an ``update_settings`` change (text turned into numbers, lists and
    booleans; the rules for their values are the settings schema's), and the fields that are not
    even numbers."""
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    thresholds: dict[str, float] = {}
    for label in CLASSIFIER_LABELS:
        raw = form.get(f"threshold_{label}", "").strip()
        if raw == "":
            continue
        try:
            thresholds[label] = parsing.decimal(raw)  # the range is the schema's rule
        except parsing.ParseError:
            errors[f"threshold_{label}"] = ["Enter a number between 0 and 1."]
    if thresholds:
        changes["thresholds"] = thresholds
    for field in ("premoderation", "failure_policy"):
        if field in form:
            changes[field] = form.get(field)
    for field in ("banned_words", "suspect_words"):
        if field in form:
            changes[field] = [line.strip() for line in form.get(field, "").splitlines() if line.strip()]
    if "present_shadow_mode" in form:
        changes["shadow_mode"] = form.get("shadow_mode") == "on"
    return changes, errors


def _form_errors(fields: dict[str, Any]) -> dict[str, list[str]]:
    """The settings schema's messages by form field (a threshold's under ``threshold_<label>``)."""
    flat: dict[str, list[str]] = {}
    for field, value in fields.items():
        if field == "thresholds" and isinstance(value, dict):
            for label, inner in value.items():
                text = inner.get("value", inner) if isinstance(inner, dict) else inner
                flat[f"threshold_{label}"] = [str(m) for m in (text if isinstance(text, list) else [text])]
        else:
            flat[str(field)] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat


def _render_settings(
    moderator: Moderator,
    site: Site,
    *,
    errors: dict[str, Any] | None = None,
    saved: bool = False,
    status: int = 200,
    values: dict[str, Any] | None = None,
) -> Response:
    shown = {**effective_settings(site), **(values or {})}
    preview = stats.threshold_preview(site, shown.get("thresholds"))
    return make_response(
        render_template(
            "dashboard/settings.html",
            moderator=moderator,
            site=site,
            settings=shown,
            preview=preview,
            labels=CLASSIFIER_LABELS,
            modes=PREMODERATION_MODES,
            errors=errors or {},
            saved=saved,
        ),
        status,
    )


@bp.route("/sites/<site_slug>/settings", methods=["GET", "POST"])
@login_required
def site_settings(moderator: Moderator, site_slug: str) -> Response:
    site = moderated_site(moderator, site_slug)
    if request.method == "GET":
        return _render_settings(moderator, site, saved=request.args.get("saved") == "1")
    changes, errors = _settings_from_form(request.form)
    if not errors:
        try:
            update_settings(site, changes, Actor("moderator", str(moderator.id)))
        except Invalid as invalid:  # refused before anything changed
            errors = _form_errors(invalid.fields) or {"_form": [invalid.message]}
        else:
            return redirect(url_for("dashboard.site_settings", site_slug=site.slug, saved=1), 303)
    # The values sent are shown again, except thresholds: the page shows the stored ones beside the errors.
    shown = {k: v for k, v in changes.items() if k != "thresholds"}
    return _render_settings(moderator, site, errors=errors, status=422, values=shown)


@bp.get("/sites/<site_slug>/settings/preview")
@login_required
def settings_preview(moderator: Moderator, site_slug: str) -> str:
    site = moderated_site(moderator, site_slug)
    thresholds: dict[str, float] = {}
    for label in CLASSIFIER_LABELS:
        raw = request.args.get(f"threshold_{label}", "").strip()
        try:
            thresholds[label] = parsing.decimal(raw, minimum=0.0, maximum=1.0)
        except parsing.ParseError:
            continue  # a half-typed value: the preview shows the others
    preview = stats.threshold_preview(site, thresholds)
    return render_template("dashboard/_preview.html", preview=preview, labels=CLASSIFIER_LABELS)
