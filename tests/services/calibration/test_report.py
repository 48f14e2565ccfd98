"""The calibration report: its SQL adds up to what the pure estimates give on the same simulated
data, and every edge (no decisions, all approved, one label with data, a reversed decision, a host
key's decisions, drift and a model change) reads as a moderator would expect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from comments.models import AuditEvent, CalibrationEvidence, ScoreBin
from comments.services.audit import Actor
from comments.services.calibration import estimates, report
from comments.services.calibration.estimates import Objective
from comments.services.errors import Invalid
from comments.services.sites import CLASSIFIER_LABELS, effective_settings
from tests import calibration_data as sim
from tests.helpers import set_settings

NOW = sim.NOW
MODERATOR = Actor("moderator", "7")


def _thresholds(site):
    return dict(effective_settings(site)["thresholds"])


@pytest.fixture()
def simulated(db, site):
    """2,000 simulated comments on the site, with decisions, spot checks and reports."""
    comments = sim.simulate(2000, _thresholds(site), seed=3)
    sim.load(site, comments)
    db.session.commit()
    return comments


def test_the_report_gives_the_pure_estimates_of_the_same_data(db, site, simulated):
    days = 30
    since = NOW - timedelta(days=days)
    objective = Objective("balance")
    result = report.calibration_report(site, days=days, objective=objective, now=NOW)
    expected = sim.label_data(simulated, _thresholds(site), since)
    assert [item.label for item in result.labels] == list(CLASSIFIER_LABELS)
    checked = 0
    for item in result.labels:
        summary = estimates.summarize(expected[item.label], objective)
        assert item.decisions == summary.decisions
        assert item.enough_decisions == summary.enough_decisions
        assert item.holds_decided == summary.holds_decided
        assert item.share_rejected == summary.hold_precision
        assert item.published_miss_share == summary.miss_share
        assert item.current == summary.current
        assert len(item.curve) == len(summary.points)
        for got, want in zip(item.curve, summary.points, strict=True):
            assert got.threshold == want.threshold
            assert got.hold_rate == pytest.approx(want.hold_rate)
            assert (got.precision is None) == (want.precision is None)
            if want.precision is not None:
                assert got.precision.value == pytest.approx(want.precision.value)
                assert got.precision.low == pytest.approx(want.precision.low)
                assert got.recall.value == pytest.approx(want.recall.value)
        assert item.recommendation.threshold == summary.recommendation.threshold
        assert item.scored == sum(expected[item.label].population)
        checked += item.enough_decisions
    assert checked >= 1  # the simulation decides enough for the labels that hold
    toxicity = result.label("toxicity")
    assert toxicity.enough_decisions and toxicity.share_rejected is not None
    assert 0 < toxicity.hold_rate < 1
    assert toxicity.median_held_seconds is not None and toxicity.median_held_seconds > 0


def test_the_site_figures(db, site, simulated):
    result = report.calibration_report(site, days=90, now=NOW)
    unanswered = sum(1 for c in simulated if c.spot_checked and c.source != "spot_check")
    assert result.spot_check_backlog == unanswered
    assert result.spot_checks_answered == sum(1 for c in simulated if c.source == "spot_check")
    assert result.published_miss_share is not None
    assert 0 < result.published_miss_share.value < 0.2
    assert result.objective == Objective("balance")  # the default


def test_a_site_without_anything(db, site):
    result = report.calibration_report(site, now=NOW)
    for item in result.labels:
        assert not item.enough_decisions
        assert item.decisions == 0
        assert item.share_rejected is None and item.published_miss_share is None
        assert item.hold_rate is None and item.current is None and item.curve == []
        assert item.recommendation.threshold is None
        assert item.effect is None
        assert item.median_held_seconds is None
        assert item.drift.psi is None and not item.drift.drifted
    assert result.spot_check_backlog == 0 and result.published_miss_share is None


def test_scores_without_decisions_give_hold_rates_but_not_enough_decisions(db, site):
    comments = sim.simulate(300, _thresholds(site), seed=5, decided_share=0, spot_check_rate=0, reported_share=0)
    sim.load(site, comments)
    db.session.commit()
    item = report.calibration_report(site, now=NOW).label("toxicity")
    assert not item.enough_decisions and item.decisions == 0
    assert item.hold_rate is not None and item.curve
    assert all(point.precision is None and point.recall is None for point in item.curve)
    assert item.share_rejected is None and item.recommendation.reason == "not_enough_decisions"
    assert item.effect is None


def test_one_label_with_data_and_the_others_without(db, site):
    comments = sim.simulate(1500, _thresholds(site), seed=8, labels=["toxicity"], bad_share=0.15)
    sim.load(site, comments)
    db.session.commit()
    result = report.calibration_report(site, now=NOW)
    assert result.label("toxicity").enough_decisions
    for label in CLASSIFIER_LABELS[1:]:
        assert not result.label(label).enough_decisions
        assert result.label(label).scored == 0


def test_all_approved_holds_recommend_holding_less(db, site):
    comments = sim.simulate(1500, _thresholds(site), seed=9, bad_share=0.1, moderator_error=0.0)
    for comment in comments:
        if comment.source == "hold":
            comment.verdict_bad = False  # every hold approved: the threshold holds nothing bad
    sim.load(site, comments)
    db.session.commit()
    item = report.calibration_report(site, now=NOW, objective=Objective("precision", 0.5)).label("toxicity")
    assert item.enough_decisions
    assert item.holds_rejected == 0
    assert item.share_rejected is not None and item.share_rejected.value == 0.0
    assert item.share_rejected.high > 0  # Wilson: zero of n is not certainty
    assert item.recommendation.threshold is None and not item.recommendation.meets_objective
    result = report.apply(site, MODERATOR, labels=["toxicity"], objective=Objective("precision", 0.5), now=NOW)
    assert result.applied == []
    assert [(i.label, i.reason) for i in result.left_alone] == [("toxicity", report.NO_RECOMMENDATION)]


def test_the_effect_counts_the_last_comments(db, site, simulated):
    thresholds = _thresholds(site)
    result = report.calibration_report(site, now=NOW, objective=Objective("hold_rate", 0.02))
    item = result.label("toxicity")
    recommended = item.recommendation.threshold
    assert recommended is not None and recommended != thresholds["toxicity"]
    effect = item.effect
    assert effect is not None
    latest = sorted(simulated, key=lambda c: c.created_at, reverse=True)[: report.EFFECT_SAMPLE]
    changed = dict(thresholds, toxicity=recommended)

    def held(comment, limits):
        return any(comment.scores[label] >= limits[label] for label in limits)

    assert effect.comments == len(latest)
    assert effect.held_now == sum(held(c, thresholds) for c in latest)
    assert effect.held_then == sum(held(c, changed) for c in latest)
    assert effect.change == effect.held_then - effect.held_now
    flipped = [c for c in latest if held(c, thresholds) != held(c, changed)]
    assert effect.bad == sum(1 for c in flipped if c.source and c.verdict_bad)
    assert effect.fine == sum(1 for c in flipped if c.source and not c.verdict_bad)


def test_a_reversed_decision_counts_once_with_its_last_verdict(db, site, simulated):
    """A decision changed later replaces its evidence row (calib-data's rule): the report counts
    the comment once, with the new verdict."""
    before = report.calibration_report(site, now=NOW).label("toxicity")
    row = (
        db.session.execute(
            select(CalibrationEvidence).where(
                CalibrationEvidence.label == "toxicity",
                CalibrationEvidence.source == "hold",
                CalibrationEvidence.held_by_label.is_(True),
                CalibrationEvidence.bad.is_(True),
            )
        )
        .scalars()
        .first()
    )
    row.bad = False  # a moderator approved what was rejected
    db.session.commit()
    after = report.calibration_report(site, now=NOW).label("toxicity")
    assert after.holds_decided == before.holds_decided
    assert after.holds_rejected == before.holds_rejected - 1


def test_decisions_by_a_host_key_count_like_a_moderators(db, site, simulated):
    rows = db.session.execute(select(CalibrationEvidence)).scalars().all()
    assert {row.decider_type for row in rows} == {"moderator", "host"}
    before = report.calibration_report(site, now=NOW).label("toxicity")
    for row in rows:
        row.decider_type = "host"
    db.session.commit()
    after = report.calibration_report(site, now=NOW).label("toxicity")
    assert (after.holds_decided, after.share_rejected) == (before.holds_decided, before.share_rejected)


def test_the_window_leaves_older_decisions_out(db, site, simulated):
    short = report.calibration_report(site, days=7, now=NOW).label("toxicity")
    long = report.calibration_report(site, days=90, now=NOW).label("toxicity")
    assert short.decisions < long.decisions
    assert short.scored < long.scored


def test_days_out_of_range_are_refused(db, site):
    for days in (0, report.MAX_DAYS + 1):
        with pytest.raises(Invalid):
            report.calibration_report(site, days=days)


def test_drift_compares_the_last_week_with_the_four_before(db, site):
    thresholds = _thresholds(site)
    old = sim.simulate(800, thresholds, seed=11, days=35, bad_share=0.05)
    recent_start = (NOW - timedelta(days=report.DRIFT_RECENT_DAYS)).date()  # whole UTC days
    old = [c for c in old if c.created_at.date() < recent_start]
    recent = sim.simulate(400, thresholds, seed=12, days=7, bad_share=0.4)
    for comment in recent:
        comment.model = "detoxify-unbiased@test"
    sim.load(site, old + recent)
    db.session.commit()
    drift = report.calibration_report(site, now=NOW).label("toxicity").drift
    assert drift.psi is not None and drift.psi > estimates.DRIFT_PSI and drift.drifted
    assert drift.recent_count == len(recent) and drift.reference_count == len(old)
    assert sum(drift.recent) == pytest.approx(1) and sum(drift.reference) == pytest.approx(1)
    assert len(drift.recent) == report.DRIFT_GROUPS
    assert drift.model_changed and drift.recent_models == ["detoxify-unbiased@test"]
    assert drift.model_changed_on == min(c.created_at for c in recent).date()


def test_same_distribution_is_no_drift(db, site):
    comments = sim.simulate(3000, _thresholds(site), seed=13, days=35)
    sim.load(site, comments)
    db.session.commit()
    drift = report.calibration_report(site, now=NOW).label("toxicity").drift
    assert drift.psi is not None and drift.psi < estimates.DRIFT_PSI and not drift.drifted
    assert not drift.model_changed


# --- apply ---------------------------------------------------------------------------------------


def test_apply_sets_the_recommendation_with_its_evidence_in_the_audit_row(db, site, simulated):
    objective = Objective("hold_rate", 0.03)
    result = report.apply(site, MODERATOR, objective=objective, now=NOW)
    db.session.commit()
    assert result.applied
    toxicity = next(change for change in result.applied if change.label == "toxicity")
    assert effective_settings(site)["thresholds"]["toxicity"] == toxicity.after == toxicity.recommended
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).scalar_one()
    assert (event.actor_type, event.actor_id) == ("moderator", "7")
    changes, evidence = event.reasons
    assert changes["changes"]["thresholds"]["after"]["toxicity"] == toxicity.after
    assert evidence["kind"] == "calibration"
    assert evidence["objective"] == {"kind": "hold_rate", "target": 0.03}
    assert evidence["window_days"] == report.DEFAULT_DAYS
    figures = evidence["labels"]["toxicity"]
    assert figures["decisions"] >= estimates.MIN_DECISIONS
    assert figures["point"]["threshold"] == toxicity.after
    assert set(figures["point"]["precision"]) == {"value", "low", "high"}
    # The labels left alone are listed with the reason.
    left = {item.label: item.reason for item in result.left_alone}
    assert set(left) | {c.label for c in result.applied} == set(CLASSIFIER_LABELS)


def test_apply_leaves_labels_without_enough_decisions_alone(db, site):
    comments = sim.simulate(1500, _thresholds(site), seed=8, labels=["toxicity"], bad_share=0.15)
    sim.load(site, comments)
    db.session.commit()
    before = _thresholds(site)
    result = report.apply(site, MODERATOR, labels=["insult", "threat"], now=NOW)
    assert result.applied == []
    assert {(item.label, item.reason) for item in result.left_alone} == {
        ("insult", report.NOT_ENOUGH_DECISIONS),
        ("threat", report.NOT_ENOUGH_DECISIONS),
    }
    assert _thresholds(site) == before
    assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).first() is None


def test_apply_refuses_an_unknown_label(db, site):
    with pytest.raises(Invalid) as refused:
        report.apply(site, MODERATOR, labels=["toxicity", "rudeness"])
    assert refused.value.code == "unknown_label"


def test_the_objective_setting_is_the_default(db, site, simulated):
    set_settings(site, calibration_objective={"kind": "hold_rate", "target": 0.05})
    result = report.calibration_report(site, now=NOW)
    assert result.objective == Objective("hold_rate", 0.05)


def test_score_bins_outside_the_window_are_not_counted(db, site, simulated):
    old = db.session.execute(select(ScoreBin).limit(1)).scalar_one()
    total = report.calibration_report(site, days=90, now=NOW).label(old.label).scored
    db.session.add(
        ScoreBin(
            site_id=site.id,
            label=old.label,
            day=(NOW - timedelta(days=200)).date(),
            model="",
            bin=3,
            scored=50,
            held=0,
            published=50,
        )
    )
    db.session.commit()
    assert report.calibration_report(site, days=90, now=NOW).label(old.label).scored == total
