"""A site's calibration report: what its moderators' decisions say about each label's threshold,
and applying the threshold the data recommends.

Everything is read from the tables ``evidence`` keeps (``score_bins``, ``calibration_evidence``,
``spot_checks``), aggregated in SQL to one row per label, bin and kind of verdict, so the report
costs the same for a site with a thousand comments or a million; only the expected effect of a
recommendation reads comments (the site's last ``EFFECT_SAMPLE`` scored ones). The statistics are
``estimates``'; this module only counts and assembles.

Moderators' decisions are not ground truth: they are what the estimates measure the thresholds
against, with the intervals saying how far the counts go.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select

from comments.extensions import db
from comments.models import CalibrationEvidence, Comment, EvidenceSource, ScoreBin, Site, SpotCheck, utcnow
from comments.services.audit import Actor, record
from comments.services.calibration import estimates, evidence
from comments.services.calibration.estimates import CurvePoint, Interval, LabelData, Objective, Recommendation
from comments.services.errors import Invalid
from comments.services.sites import CLASSIFIER_LABELS, effective_settings, objective_setting, update_settings

DEFAULT_DAYS = 90
MAX_DAYS = 365
# The expected effect of a recommendation is counted on the site's last this many scored comments.
EFFECT_SAMPLE = 1000
# Drift: the label's score distribution over the last DRIFT_RECENT_DAYS against the DRIFT_REFERENCE_DAYS before.
DRIFT_RECENT_DAYS = 7
DRIFT_REFERENCE_DAYS = 28
# The distributions are shown in this many groups of equal width (0.05 each).
DRIFT_GROUPS = 20
# The median time held is taken over each label's latest this many decided holds in the window.
MEDIAN_SAMPLE = 1000

# Why a label's threshold was left alone by ``apply`` (also in the API's and the dashboard's words).
NOT_ENOUGH_DECISIONS = "not_enough_decisions"
NO_RECOMMENDATION = "no_recommendation"
UNCHANGED = "unchanged"
LEFT_ALONE_WORDS = {
    NOT_ENOUGH_DECISIONS: "Not enough decisions yet.",
    NO_RECOMMENDATION: "No threshold meets the objective.",
    UNCHANGED: "The recommended threshold is the current one.",
}
CALIBRATION_ACTOR = Actor("system", "calibration")


@dataclass(frozen=True)
class Effect:
    """What the recommended threshold would have done to the site's last ``comments`` scored
    comments, the other labels' thresholds unchanged: ``change`` more held (negative: fewer); of
    the comments whose fate changes, ``bad`` a moderator rejected (or found should have been
    held), ``fine`` a moderator approved or found fine; the rest no one judged."""

    comments: int
    held_now: int
    held_then: int
    change: int
    bad: int
    fine: int


@dataclass(frozen=True)
class Drift:
    """The label's score distribution over the last ``DRIFT_RECENT_DAYS`` days (``recent``) against
    the ``DRIFT_REFERENCE_DAYS`` before (``reference``), as shares of ``DRIFT_GROUPS`` groups."""

    psi: float | None  # None while either period has no scores
    drifted: bool
    recent: list[float]
    reference: list[float]
    recent_count: int
    reference_count: int
    recent_models: list[str]
    reference_models: list[str]
    model_changed: bool
    model_changed_on: date | None  # the first day the recent period's new model scored


@dataclass
class LabelReport:
    label: str
    threshold: float
    decisions: int  # decided holds, answered spot checks and rejected reports with this label's score
    enough_decisions: bool
    min_decisions: int
    holds_decided: int  # decided holds this label's score held
    holds_rejected: int
    share_rejected: Interval | None  # the precision of those holds (None: not enough decisions)
    hold_rate: float | None  # the share of the window's scored comments at or over the threshold
    scored: int
    median_held_seconds: float | None
    spot_checks: int  # answered spot checks with this label's score (each comment counts once)
    published_miss_share: Interval | None
    curve: list[CurvePoint]
    current: CurvePoint | None
    recommendation: Recommendation
    effect: Effect | None
    drift: Drift


@dataclass
class CalibrationReport:
    site_slug: str
    days: int
    since: datetime
    generated_at: datetime
    objective: Objective
    min_decisions: int
    labels: list[LabelReport]
    spot_check_backlog: int  # spot checks not answered yet
    spot_checks_answered: int  # in the window
    published_miss_share: Interval | None
    auto_calibrate: dict[str, Any] = field(default_factory=dict)

    def label(self, name: str) -> LabelReport:
        return next(item for item in self.labels if item.label == name)


def _bin(value: Any) -> int:
    # A bin out of range (written by hand, or by an older scale) counts at the nearest end.
    return min(max(int(value), 0), estimates.BIN_COUNT - 1)


def label_data(site: Site, since: datetime, thresholds: dict[str, float]) -> dict[str, LabelData]:
    """Each label's binned counts for the window: two grouped reads."""
    data = {label: LabelData.empty(float(thresholds.get(label, 0.0))) for label in CLASSIFIER_LABELS}
    bins = select(
        ScoreBin.label,
        ScoreBin.bin,
        func.sum(ScoreBin.scored),
        func.sum(ScoreBin.held),
        func.sum(ScoreBin.published),
    ).where(ScoreBin.site_id == site.id, ScoreBin.day >= since.date())
    for label, bin_, scored, held, published in db.session.execute(bins.group_by(ScoreBin.label, ScoreBin.bin)):
        item = data.get(label)
        if item is None:
            continue  # a label the classifier no longer has
        b = _bin(bin_)
        item.population[b] += int(scored or 0)
        item.held[b] += int(held or 0)
        item.published[b] += int(published or 0)

    e = CalibrationEvidence
    evidence = (
        select(
            e.label,
            e.bin,
            e.source,
            e.bad,
            e.held_by_label,
            func.count(),
            func.sum(e.weight),
            func.sum(e.weight * e.weight),
        )
        .where(e.site_id == site.id, e.decided_at >= since)
        .group_by(e.label, e.bin, e.source, e.bad, e.held_by_label)
    )
    for label, bin_, source, bad, held_by_label, count, weight, weight2 in db.session.execute(evidence):
        item = data.get(label)
        if item is None:
            continue
        b, count = _bin(bin_), int(count)
        if source == EvidenceSource.HOLD:
            if bad:
                item.hold_bad[b] += count
            else:
                item.hold_fine[b] += count
            if held_by_label:
                if bad:
                    item.holds_by_label_bad += count
                else:
                    item.holds_by_label_fine += count
        elif source == EvidenceSource.SPOT_CHECK:
            if bad:
                item.sample_bad_w[b] += float(weight or 0.0)
            else:
                item.sample_fine_w[b] += float(weight or 0.0)
            item.sample_w2[b] += float(weight2 or 0.0)
            item.sample_n[b] += count
        elif source == EvidenceSource.REPORT and bad:
            item.report_bad[b] += count
    return data


def _median_held(site: Site, since: datetime) -> dict[str, float]:
    """Per label, the median seconds in the queue of the latest ``MEDIAN_SAMPLE`` decided holds
    that label held (one grouped read: a window function numbers each label's holds)."""
    e = CalibrationEvidence
    numbered = (
        select(
            e.label,
            e.held_seconds,
            func.row_number()
            .over(partition_by=e.label, order_by=(e.decided_at.desc(), e.comment_id.desc()))
            .label("n"),
        )
        .where(
            e.site_id == site.id,
            e.decided_at >= since,
            e.source == EvidenceSource.HOLD.value,
            e.held_by_label.is_(True),
            e.held_seconds.is_not(None),
        )
        .subquery()
    )
    seconds: dict[str, list[float]] = {}
    for label, held_seconds in db.session.execute(
        select(numbered.c.label, numbered.c.held_seconds).where(numbered.c.n <= MEDIAN_SAMPLE)
    ):
        seconds.setdefault(label, []).append(float(held_seconds))
    return {label: statistics.median(values) for label, values in seconds.items()}


def _groups(counts: Sequence[float]) -> list[float]:
    """A BIN_COUNT histogram as shares of DRIFT_GROUPS equal groups."""
    total = sum(counts)
    width = estimates.BIN_COUNT // DRIFT_GROUPS
    grouped = [sum(counts[i * width : (i + 1) * width]) for i in range(DRIFT_GROUPS)]
    return [count / total if total else 0.0 for count in grouped]


def _drift(site: Site, now: datetime) -> dict[str, Drift]:
    """Each label's drift: one grouped read of the last five weeks' score bins."""
    recent_start = (now - timedelta(days=DRIFT_RECENT_DAYS)).date()
    reference_start = recent_start - timedelta(days=DRIFT_REFERENCE_DAYS)
    is_recent = case((ScoreBin.day >= recent_start, literal(1)), else_=literal(0)).label("recent")
    rows = db.session.execute(
        select(
            ScoreBin.label, ScoreBin.model, ScoreBin.bin, is_recent, func.sum(ScoreBin.scored), func.min(ScoreBin.day)
        )
        .where(ScoreBin.site_id == site.id, ScoreBin.day >= reference_start)
        .group_by(ScoreBin.label, ScoreBin.model, ScoreBin.bin, is_recent)
    )
    n = estimates.BIN_COUNT
    counts = {label: ([0.0] * n, [0.0] * n) for label in CLASSIFIER_LABELS}  # (reference, recent)
    models: dict[str, tuple[dict[str, date], dict[str, date]]] = {label: ({}, {}) for label in CLASSIFIER_LABELS}
    for label, model, bin_, recent, scored, first_day in rows:
        if label not in counts:
            continue
        counts[label][int(recent)][_bin(bin_)] += float(scored or 0)
        if scored:
            seen = models[label][int(recent)]
            day = first_day if isinstance(first_day, date) else date.fromisoformat(str(first_day))
            seen[model] = min(seen.get(model, day), day)
    result = {}
    for label in CLASSIFIER_LABELS:
        reference, recent = counts[label]
        reference_models, recent_models = models[label]
        value = estimates.psi(reference, recent) if sum(reference) and sum(recent) else None
        new_models = set(recent_models) - set(reference_models)
        changed = bool(reference_models) and bool(new_models)
        result[label] = Drift(
            psi=value,
            drifted=value is not None and value > estimates.DRIFT_PSI,
            recent=_groups(recent),
            reference=_groups(reference),
            recent_count=int(sum(recent)),
            reference_count=int(sum(reference)),
            recent_models=sorted(recent_models),
            reference_models=sorted(reference_models),
            model_changed=changed,
            model_changed_on=min(recent_models[m] for m in new_models) if changed else None,
        )
    return result


@dataclass
class _Recent:
    """The site's last scored comments: their scores, and the verdicts people gave on them."""

    scores: list[dict[str, float]]
    verdicts: list[bool | None]  # True: bad, False: fine, None: no one judged


def _recent_comments(site: Site) -> _Recent:
    rows = db.session.execute(
        select(Comment.id, Comment.scores)
        .where(Comment.site_id == site.id, Comment.scores.is_not(None))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(EFFECT_SAMPLE)
    ).all()
    ids = [row.id for row in rows]
    verdicts: dict[int, bool] = {}
    if ids:
        e = CalibrationEvidence
        for comment_id, bad in db.session.execute(
            select(e.comment_id, func.max(case((e.bad.is_(True), 1), else_=0)))
            .where(e.comment_id.in_(ids))
            .group_by(e.comment_id)
        ):
            verdicts[comment_id] = bool(bad)
    return _Recent(
        [row.scores if isinstance(row.scores, dict) else {} for row in rows],
        [verdicts.get(comment_id) for comment_id in ids],
    )


def _effect(recent: _Recent, thresholds: dict[str, float], label: str, new_threshold: float) -> Effect:
    changed = dict(thresholds, **{label: new_threshold})

    def holds(scores: dict[str, float], limits: dict[str, float]) -> bool:
        return any(
            isinstance(scores.get(name), int | float) and scores[name] >= limit for name, limit in limits.items()
        )

    held_now = held_then = bad = fine = 0
    for scores, verdict in zip(recent.scores, recent.verdicts, strict=True):
        now_held, then_held = holds(scores, thresholds), holds(scores, changed)
        held_now += now_held
        held_then += then_held
        if now_held != then_held and verdict is not None:
            bad += verdict
            fine += not verdict
    return Effect(len(recent.scores), held_now, held_then, held_then - held_now, bad, fine)


def _spot_check_figures(site: Site, since: datetime) -> tuple[int, int]:
    """(unanswered spot checks of comments still published, as the queue shows them; spot checks
    answered in the window)."""
    answered = db.session.execute(
        select(func.count()).where(
            SpotCheck.site_id == site.id, SpotCheck.verdict.is_not(None), SpotCheck.answered_at >= since
        )
    ).scalar_one()
    return evidence.spot_check_backlog([site.id]).get(site.id, 0), int(answered)


def _site_miss_share(data: dict[str, LabelData]) -> Interval | None:
    """The estimated share of the site's published comments that should have been held.

    Every scored comment has a score, so a bin, and each verdict an evidence row, for every label:
    any one label's totals are the site's. The label with the most comments scored is taken (a
    label a model stopped returning would count fewer)."""
    fullest = max(data.values(), key=lambda item: (sum(item.population), item.decisions))
    if not estimates.enough_decisions(fullest.decisions):
        return None  # "not enough decisions yet", as for each label
    return estimates.label_miss_share(fullest)


def calibration_report(
    site: Site, *, days: int = DEFAULT_DAYS, objective: Objective | None = None, now: datetime | None = None
) -> CalibrationReport:
    """The site's calibration figures over the last ``days`` days, per label and for the site."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid("invalid_days", f"days must be between 1 and {MAX_DAYS}.", {"days": [f"1 to {MAX_DAYS}."]})
    now = now or utcnow()
    since = now - timedelta(days=days)
    settings = effective_settings(site)
    thresholds = {label: float(value) for label, value in settings["thresholds"].items()}
    if objective is None:
        objective = estimates.parse_objective(settings["calibration_objective"])
    data = label_data(site, since, thresholds)
    medians = _median_held(site, since)
    drift = _drift(site, now)
    recent: _Recent | None = None
    labels = []
    for label in CLASSIFIER_LABELS:
        item = data[label]
        current = thresholds[label]
        summary = estimates.summarize(item, objective)
        recommendation = summary.recommendation
        effect = None
        if recommendation.threshold is not None and recommendation.threshold != current:
            if recent is None:
                recent = _recent_comments(site)
            effect = _effect(recent, thresholds, label, recommendation.threshold)
        scored = sum(item.population)
        labels.append(
            LabelReport(
                label=label,
                threshold=current,
                decisions=summary.decisions,
                enough_decisions=summary.enough_decisions,
                min_decisions=estimates.MIN_DECISIONS,
                holds_decided=summary.holds_decided,
                holds_rejected=item.holds_by_label_bad,
                share_rejected=summary.hold_precision,
                hold_rate=summary.current.hold_rate if summary.current is not None else None,
                scored=scored,
                median_held_seconds=medians.get(label),
                spot_checks=sum(item.sample_n),
                published_miss_share=summary.miss_share,
                curve=summary.points,
                current=summary.current,
                recommendation=recommendation,
                effect=effect,
                drift=drift[label],
            )
        )
    backlog, answered = _spot_check_figures(site, since)
    return CalibrationReport(
        site_slug=site.slug,
        days=days,
        since=since,
        generated_at=now,
        objective=objective,
        min_decisions=estimates.MIN_DECISIONS,
        labels=labels,
        spot_check_backlog=backlog,
        spot_checks_answered=answered,
        published_miss_share=_site_miss_share(data),
        auto_calibrate=dict(settings["auto_calibrate"]),
    )


# --- applying a recommendation ------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedThreshold:
    label: str
    before: float
    after: float
    recommended: float  # before clamping and stepping (the same unless auto-calibration moved it)


@dataclass(frozen=True)
class LeftAlone:
    label: str
    reason: str  # NOT_ENOUGH_DECISIONS, NO_RECOMMENDATION, UNCHANGED
    message: str


@dataclass
class ApplyResult:
    report: CalibrationReport
    applied: list[AppliedThreshold]
    left_alone: list[LeftAlone]


def _interval(value: Interval | None) -> dict[str, float] | None:
    return None if value is None else {"value": value.value, "low": value.low, "high": value.high}


def evidence_of(item: LabelReport) -> dict[str, Any]:
    """What the audit row keeps of the figures a label's threshold was set from."""
    recommendation = item.recommendation
    point = recommendation.point
    return {
        "decisions": item.decisions,
        "holds_decided": item.holds_decided,
        "holds_rejected": item.holds_rejected,
        "spot_checks": item.spot_checks,
        "scored": item.scored,
        "share_rejected": _interval(item.share_rejected),
        "recommended": recommendation.threshold,
        "meets_objective": recommendation.meets_objective,
        "reason": recommendation.reason,
        "point": None
        if point is None
        else {
            "threshold": point.threshold,
            "hold_rate": point.hold_rate,
            "precision": _interval(point.precision),
            "recall": _interval(point.recall),
            "f1": point.f1,
        },
    }


def _check_labels(labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return list(CLASSIFIER_LABELS)
    unknown = [label for label in labels if label not in CLASSIFIER_LABELS]
    if unknown:
        raise Invalid(
            "unknown_label",
            f"No classifier label {', '.join(map(repr, unknown))}; the labels are {', '.join(CLASSIFIER_LABELS)}.",
            {"labels": [f"Unknown label: {label}." for label in unknown]},
        )
    return list(dict.fromkeys(labels))


def _moved(current: float, recommended: float, bounds: dict[str, Any] | None) -> float:
    """The threshold to set: the recommendation, or for auto-calibration that clamped to
    [min, max] and at most ``max_step`` from the current threshold."""
    if bounds is None:
        return recommended
    target = min(max(recommended, float(bounds["min"])), float(bounds["max"]))
    step = float(bounds["max_step"])
    moved = current + max(-step, min(step, target - current))
    return round(moved, 2)


def apply(
    site: Site,
    actor: Actor,
    labels: Sequence[str] | None = None,
    objective: Objective | None = None,
    *,
    days: int = DEFAULT_DAYS,
    bounds: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> ApplyResult:
    """Set each label's recommended threshold through ``sites.update_settings`` (one audited change
    carrying the evidence); labels without enough decisions or without a recommendation are left
    alone and listed. ``bounds`` (auto-calibration's ``min``, ``max``, ``max_step``) clamp the move."""
    chosen = _check_labels(labels)
    report = calibration_report(site, days=days, objective=objective, now=now)
    applied: list[AppliedThreshold] = []
    left_alone: list[LeftAlone] = []
    evidence: dict[str, Any] = {}
    for label in chosen:
        item = report.label(label)
        recommendation = item.recommendation
        if not item.enough_decisions:
            reason = NOT_ENOUGH_DECISIONS
        elif recommendation.threshold is None:
            reason = NO_RECOMMENDATION
        else:
            target = _moved(item.threshold, recommendation.threshold, bounds)
            if target == item.threshold:
                reason = UNCHANGED
            else:
                applied.append(AppliedThreshold(label, item.threshold, target, recommendation.threshold))
                evidence[label] = evidence_of(item)
                continue
        left_alone.append(LeftAlone(label, reason, LEFT_ALONE_WORDS[reason]))
    if applied:
        update_settings(
            site,
            {"thresholds": {change.label: change.after for change in applied}},
            actor,
            evidence={
                "kind": "calibration",
                "objective": objective_setting(report.objective),
                "window_days": report.days,
                "since": report.since.astimezone(UTC).isoformat(),
                "bounds": bounds,
                "labels": evidence,
            },
        )
    return ApplyResult(report, applied, left_alone)


def record_unchanged_run(site: Site, result: ApplyResult) -> None:
    """Auto-calibration looked and changed nothing: the audit log says so (and when, which is what
    keeps the job to one run a day per site)."""
    record(
        "calibration_checked",
        CALIBRATION_ACTOR,
        site_id=site.id,
        reasons=[
            {
                "kind": "calibration",
                "objective": objective_setting(result.report.objective),
                "window_days": result.report.days,
                "left_alone": {item.label: item.reason for item in result.left_alone},
            }
        ],
    )


# --- figures for /metrics ------------------------------------------------------------------------

METRICS_DAYS = 30


@dataclass(frozen=True)
class SiteMetrics:
    site_slug: str
    holds_decided: int  # machine holds decided in the last METRICS_DAYS days
    holds_rejected: int
    spot_check_backlog: int


def site_metrics(now: datetime | None = None) -> list[SiteMetrics]:
    """Per site: the machine's holds decided over the last ``METRICS_DAYS`` days and how many were
    rejected (the hold precision), and the spot checks waiting. Two grouped reads along the
    tables' (site, time) and (site, verdict) indexes, whatever the number of comments.

    A held comment has an evidence row per label scored; each is counted once, by its row for the
    classifier's first label (which every scoring returns)."""
    since = (now or utcnow()) - timedelta(days=METRICS_DAYS)
    sites: dict[int, str] = dict(db.session.execute(select(Site.id, Site.slug)).all())
    if not sites:
        return []
    e = CalibrationEvidence
    holds = {
        site_id: (int(decided), int(rejected or 0))
        for site_id, decided, rejected in db.session.execute(
            select(e.site_id, func.count(), func.sum(case((e.bad.is_(True), 1), else_=0)))
            .where(
                e.decided_at >= since,
                e.source == EvidenceSource.HOLD.value,
                e.label == CLASSIFIER_LABELS[0],
            )
            .group_by(e.site_id)
        )
    }
    # Every site's, unfiltered: naming each site's id would take one parameter per site (PostgreSQL
    # takes 65,535 in a statement).
    backlog = evidence.spot_check_backlog()
    return [
        SiteMetrics(slug, *holds.get(site_id, (0, 0)), int(backlog.get(site_id, 0)))
        for site_id, slug in sorted(sites.items(), key=lambda item: item[1])
    ]
