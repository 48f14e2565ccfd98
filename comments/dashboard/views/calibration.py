"""The calibration page: per label, what the decisions say about its threshold (curves drawn as
server-rendered SVG), the recommendation for the objective with its effect, Apply, and drift.

The figures are ``services.calibration.report``'s; this module only lays them out: the charts'
coordinates are computed here so that the template draws lines, not numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from comments.dashboard.views.common import bp, is_htmx, login_required, moderated_site
from comments.models import Moderator, Site
from comments.services import parsing
from comments.services.audit import Actor
from comments.services.calibration import estimates, report
from comments.services.calibration.estimates import CurvePoint, Objective
from comments.services.errors import Invalid
from comments.services.review.access import visible_sites
from comments.services.sites import CLASSIFIER_LABELS, objective_setting, update_settings

DAY_CHOICES = (7, 30, 90, 180, 365)

# The charts' frame, in SVG user units (the SVG scales to the width it is given).
WIDTH, HEIGHT = 480, 214
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 24, 30


def _x(threshold: float) -> float:
    return round(LEFT + threshold * (WIDTH - LEFT - RIGHT), 1)


def _y(value: float, top: float = 1.0) -> float:
    share = min(max(value / top if top else 0.0, 0.0), 1.0)
    return round(TOP + (1 - share) * (HEIGHT - TOP - BOTTOM), 1)


def _line(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))


def _band(lower: Sequence[tuple[float, float]], upper: Sequence[tuple[float, float]]) -> str:
    if not lower:
        return ""
    return _line([*lower, *reversed(upper)]) + " Z"


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    """One chart's drawing: paths, markers and axis ticks, in the frame above."""

    lines: dict[str, str]  # name -> path (CSS class chart-<name>)
    bands: dict[str, str]
    markers: list[tuple[str, float, str, str, float]]  # (kind, x, label, text-anchor, label's y)
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    description: str


def _x_ticks() -> list[Tick]:
    return [Tick(_x(t / 10), f"{t / 10:.1f}") for t in range(0, 11, 2)]


# About how wide a marker's label is drawn (12 px bold): room it needs beside its line.
_LABEL_WIDTH = {"current": 60, "recommended": 110}


def _markers(current: float, recommended: float | None) -> list[tuple[str, float, str, str, float]]:
    """(kind, x, label, text-anchor, label's y): of two markers the left one is labelled on its
    left and the right one on its right, so the labels never cross; a label without room on its
    side (a threshold near 0 or 1) goes to the other, and then the second one a line lower."""
    markers = [("current", _x(current), f"now {current:.2f}")]
    if recommended is not None and recommended != current:
        markers.append(("recommended", _x(recommended), f"recommended {recommended:.2f}"))
    placed: list[tuple[str, float, str, str, float]] = []
    for kind, x, text in markers:
        left_of_other = len(markers) == 2 and x == min(m[1] for m in markers)
        anchor = "end" if left_of_other else "start"
        if anchor == "end" and x - _LABEL_WIDTH[kind] < 0:
            anchor = "start"
        elif anchor == "start" and x + _LABEL_WIDTH[kind] > WIDTH:
            anchor = "end"
        same_side = any(other[3] == anchor for other in placed)
        placed.append((kind, x, text, anchor, TOP + 12 if same_side else TOP - 8))
    return placed


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%" if value >= 0.1 or value == 0 else f"{value * 100:.1f}%"


def quality_chart(item: report.LabelReport) -> Chart | None:
    """Precision and recall at each candidate threshold, with their 95% intervals as bands."""
    points = [p for p in item.curve if p.precision is not None or p.recall is not None]
    if not points:
        return None
    lines: dict[str, str] = {}
    bands: dict[str, str] = {}
    for name in ("precision", "recall"):
        estimated = [(p.threshold, getattr(p, name)) for p in points if getattr(p, name) is not None]
        lines[name] = _line([(_x(t), _y(i.value)) for t, i in estimated])
        bands[name] = _band([(_x(t), _y(i.low)) for t, i in estimated], [(_x(t), _y(i.high)) for t, i in estimated])
    return Chart(
        lines,
        bands,
        _markers(item.threshold, item.recommendation.threshold),
        _x_ticks(),
        [Tick(_y(v), _percent(v)) for v in (0, 0.25, 0.5, 0.75, 1.0)],
        f"Estimated precision and recall of {item.label} holds by threshold, with 95% intervals.",
    )


def _nice_top(value: float) -> float:
    for top in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0):
        if value <= top:
            return top
    return 1.0


def hold_rate_chart(item: report.LabelReport) -> Chart | None:
    """The share of comments each threshold holds (counted, no estimate), on its own scale."""
    points: list[CurvePoint] = item.curve
    if not points:
        return None
    top = _nice_top(max(p.hold_rate for p in points))
    return Chart(
        {"hold-rate": _line([(_x(p.threshold), _y(p.hold_rate, top)) for p in points])},
        {},
        _markers(item.threshold, item.recommendation.threshold),
        _x_ticks(),
        [Tick(_y(v * top, top), _percent(v * top)) for v in (0, 0.5, 1.0)],
        f"Share of comments {item.label} would hold by threshold (up to {_percent(top)}).",
    )


@dataclass(frozen=True)
class Bars:
    reference: list[tuple[float, float, float]]  # (x, y, height) per group
    recent: list[tuple[float, float, float]]
    width: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    description: str


def drift_chart(drift: report.Drift, label: str) -> Bars | None:
    """The two score distributions, side by side per 0.05 of score."""
    if not drift.recent_count or not drift.reference_count:
        return None
    top = _nice_top(max(*drift.recent, *drift.reference))
    groups = len(drift.recent)
    slot = (WIDTH - LEFT - RIGHT) / groups
    width = round(slot * 0.4, 1)
    base = _y(0, top)

    def bars(shares: list[float], offset: float) -> list[tuple[float, float, float]]:
        return [
            (round(LEFT + i * slot + offset, 1), _y(share, top), round(base - _y(share, top), 1))
            for i, share in enumerate(shares)
        ]

    return Bars(
        bars(drift.reference, slot * 0.1),
        bars(drift.recent, slot * 0.5),
        width,
        _x_ticks(),
        [Tick(_y(v * top, top), _percent(v * top)) for v in (0, 0.5, 1.0)],
        f"Distribution of {label} scores: the last 7 days against the 28 days before.",
    )


@dataclass(frozen=True)
class LabelView:
    item: report.LabelReport
    quality: Chart | None
    hold_rate: Chart | None
    drift: Bars | None
    reason_text: str


def _objective_from(values: Any) -> tuple[Objective | None, dict[str, str], dict[str, list[str]]]:
    """The objective picked on the page (None: the site's), the form's values, and its errors.
    The target is read as a percentage, the way the page shows shares."""
    kind = (values.get("objective") or "").strip()
    raw_target = (values.get("target") or "").strip()
    form = {"objective": kind, "target": raw_target}
    if not kind:
        return None, form, {}
    target: float | None = None
    if kind != "balance" and raw_target:
        try:
            target = parsing.decimal(raw_target, minimum=0.0, maximum=100.0) / 100
        except parsing.ParseError as exc:
            return None, form, {"target": [exc.message]}
    try:
        return estimates.parse_objective({"kind": kind, "target": target}), form, {}
    except ValueError as exc:
        return None, form, {"objective": [str(exc)]}


def _days_from(values: Any) -> tuple[int, dict[str, list[str]]]:
    raw = (values.get("days") or "").strip()
    if not raw:
        return report.DEFAULT_DAYS, {}
    try:
        return parsing.integer(raw, minimum=1, maximum=report.MAX_DAYS), {}
    except parsing.ParseError as exc:
        return report.DEFAULT_DAYS, {"days": [exc.message]}


def _render(
    moderator: Moderator,
    site: Site,
    *,
    values: Any,
    applied: report.ApplyResult | None = None,
    saved_objective: bool = False,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    objective, form, objective_errors = _objective_from(values)
    days, day_errors = _days_from(values)
    errors = {**(errors or {}), **objective_errors, **day_errors}
    figures = report.calibration_report(site, days=days, objective=objective)
    labels = [
        LabelView(
            item,
            quality_chart(item),
            hold_rate_chart(item),
            drift_chart(item.drift, item.label),
            estimates.RECOMMENDATION_REASONS.get(item.recommendation.reason, item.recommendation.reason),
        )
        for item in figures.labels
    ]
    template = "dashboard/_calibration.html" if is_htmx() else "dashboard/calibration.html"
    return make_response(
        render_template(
            template,
            moderator=moderator,
            site=site,
            figures=figures,
            labels=labels,
            form=form,
            days=days,
            day_choices=DAY_CHOICES,
            errors=errors,
            applied=applied,
            saved_objective=saved_objective,
            objective_is_sites=objective is None,
            chart={
                "width": WIDTH,
                "height": HEIGHT,
                "left": LEFT,
                "right": WIDTH - RIGHT,
                "top": TOP,
                "bottom": HEIGHT - BOTTOM,
            },
            left_alone_words=report.LEFT_ALONE_WORDS,
        ),
        status if not errors else 422,
    )


@bp.get("/calibration")
@login_required
def calibration_index(moderator: Moderator) -> Response | str:
    sites = visible_sites(moderator)
    if len(sites) == 1:
        return redirect(url_for("dashboard.calibration", site_slug=sites[0].slug))
    return render_template("dashboard/calibration_index.html", moderator=moderator, sites=sites)


@bp.get("/sites/<site_slug>/calibration")
@login_required
def calibration(moderator: Moderator, site_slug: str) -> Response:
    site = moderated_site(moderator, site_slug)
    return _render(moderator, site, values=request.args, saved_objective=request.args.get("saved") == "1")


@bp.post("/sites/<site_slug>/calibration/apply")
@login_required
def calibration_apply(moderator: Moderator, site_slug: str) -> Response:
    """Apply the recommendation for one label (or every label), for the objective on the page."""
    site = moderated_site(moderator, site_slug)
    objective, _, errors = _objective_from(request.form)
    days, day_errors = _days_from(request.form)
    label = request.form.get("label", "")
    if label and label not in CLASSIFIER_LABELS:
        errors = {**errors, "label": ["No such label."]}
    if errors or day_errors:
        return _render(moderator, site, values=request.form, errors={**errors, **day_errors})
    result = report.apply(
        site, Actor("moderator", str(moderator.id)), labels=[label] if label else None, objective=objective, days=days
    )
    return _render(moderator, site, values=request.form, applied=result)


@bp.post("/sites/<site_slug>/calibration/objective")
@login_required
def calibration_objective(moderator: Moderator, site_slug: str) -> Response:
    """Make the objective picked on the page the site's own (its recommendations and auto-calibration)."""
    site = moderated_site(moderator, site_slug)
    objective, form, errors = _objective_from(request.form)
    if objective is None and not errors:
        errors = {"objective": ["Choose an objective."]}
    if errors:
        return _render(moderator, site, values=request.form, errors=errors)
    assert objective is not None
    try:
        update_settings(
            site, {"calibration_objective": objective_setting(objective)}, Actor("moderator", str(moderator.id))
        )
    except Invalid as invalid:
        return _render(moderator, site, values=request.form, errors={"objective": [invalid.message]})
    return redirect(
        url_for("dashboard.calibration", site_slug=site.slug, saved=1, days=request.form.get("days") or None), 303
    )
