"""The calibration report: its SQL adds up to what the pure estimates give on the same simulated
data, and every edge (no decisions, all approved, one label with data, a reversed decision, a host
key's decisions, drift and a model change) reads as a moderator would expect."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta

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
from tests.simulation import LabelScores

NOW = sim.NOW
MODERATOR = Actor("moderator", "7")


def _flat(value, path=""):
    """A figure (dataclasses, lists, numbers) as (path, leaf) pairs, so that two can be compared
    leaf by leaf: the database's sums may differ from Python's in the last bits of a float."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return [pair for key in sorted(value) for pair in _flat(value[key], f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [pair for index, item in enumerate(value) for pair in _flat(item, f"{path}[{index}]")]
    return [(path, value)]


def assert_same(got, want):
    got_leaves, want_leaves = _flat(got), _flat(want)
    assert [path for path, _ in got_leaves] == [path for path, _ in want_leaves]
    for (path, a), (_, b) in zip(got_leaves, want_leaves, strict=True):
        if isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
        else:
            assert a == b, path


def _thresholds(site):
    return dict(effective_settings(site)["thresholds"])


@pytest.fixture()
def simulated(db, site):
    """3,000 simulated comments over the last 60 days, with decisions, spot checks and reports."""
    loaded = sim.load_simulation(site, 3000, seed=3, days=60, decided_share=0.9)
    db.session.commit()
    return loaded


@pytest.mark.parametrize("objective", [Objective("balance"), Objective("precision", 0.9), Objective("hold_rate", 0.05)])
def test_the_report_gives_the_pure_estimates_of_the_same_data(db, site, simulated, objective):
    result = report.calibration_report(site, days=90, objective=objective, now=NOW)
    tally = simulated.tally(_thresholds(site))
    assert [item.label for item in result.labels] == list(CLASSIFIER_LABELS)
    for item in result.labels:
        data = tally.data[item.label]
        summary = estimates.summarize(data, objective)
        assert item.scored == sum(data.population)
        assert item.decisions == summary.decisions
        assert item.enough_decisions == summary.enough_decisions
        assert item.holds_decided == summary.holds_decided
        assert item.holds_rejected == data.holds_by_label_bad
        assert item.spot_checks == sum(data.sample_n)
        assert_same(item.share_rejected, summary.hold_precision)
        assert_same(item.published_miss_share, summary.miss_share)
        assert_same(item.current, summary.current)
        assert_same(item.curve, summary.points)
        assert_same(item.recommendation, summary.recommendation)
    toxicity = result.label("toxicity")
    assert toxicity.enough_decisions and toxicity.share_rejected is not None
    assert 0 < toxicity.hold_rate < 1
    held = [c.held_seconds for c in simulated.comments if c.held and c.decided and "toxicity" in c.held_by]
    assert toxicity.median_held_seconds == pytest.approx(sorted(held)[len(held) // 2], rel=0.05)


def test_the_site_figures(db, site, simulated):
    result = report.calibration_report(site, days=90, now=NOW)
    comments = simulated.comments
    # Waiting checks of comments still published (a comment rejected after reports leaves the queue).
    assert result.spot_check_backlog == sum(
        1 for c in comments if c.spot_checked and not c.decided and not c.report_rejected
    )
    assert result.spot_checks_answered == sum(1 for c in comments if c.spot_checked and c.decided)
    tally = simulated.tally(_thresholds(site))
    assert_same(result.published_miss_share, estimates.label_miss_share(tally.data["toxicity"]))
    assert 0 < result.published_miss_share.value < 0.2
    assert result.objective == Objective("balance")  # the default


def test_a_site_without_anything(db, site):
    result = report.calibration_report(site, now=NOW)
    for item in result.labels:
        assert not item.enough_decisions
        assert item.decisions == 0 and item.scored == 0
        assert item.share_rejected is None and item.published_miss_share is None
        assert item.hold_rate is None and item.current is None and item.curve == []
        assert item.recommendation.threshold is None
        assert item.effect is None
        assert item.median_held_seconds is None
        assert item.drift.psi is None and not item.drift.drifted
    assert result.spot_check_backlog == 0 and result.published_miss_share is None


def test_scores_without_decisions_give_hold_rates_but_not_enough_decisions(db, site):
    sim.load_simulation(site, 400, seed=5, decided_share=0.0, spot_check_rate=0.0, report_rate=0.0, false_report_rate=0)
    db.session.commit()
    item = report.calibration_report(site, now=NOW).label("toxicity")
    assert not item.enough_decisions and item.decisions == 0
    assert item.hold_rate is not None and item.curve
    assert all(point.precision is None and point.recall is None for point in item.curve)
    assert item.share_rejected is None and item.recommendation.reason == "not_enough_decisions"
    assert item.effect is None


def test_one_label_with_data_and_the_others_without(db, site):
    sim.load_simulation(site, 1500, seed=8, labels=["toxicity"])
    db.session.commit()
    result = report.calibration_report(site, now=NOW)
    assert result.label("toxicity").enough_decisions
    for label in CLASSIFIER_LABELS[1:]:
        item = result.label(label)
        assert not item.enough_decisions and item.scored == 0 and item.curve == []


def test_all_approved_holds_recommend_no_precision_target(db, site):
    """Every hold approved: the threshold holds nothing a moderator rejects."""
    loaded = sim.load_simulation(site, 2000, seed=9, report_rate=0.0, false_report_rate=0.0)
    db.session.execute(
        CalibrationEvidence.__table__.update().where(CalibrationEvidence.source == "hold").values(bad=False)
    )
    db.session.commit()
    assert any(c.held and c.decided for c in loaded.comments)
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
    latest = simulated.comments[-report.EFFECT_SAMPLE :]  # loaded oldest first
    changed = dict(thresholds, toxicity=recommended)

    def held(comment, limits):
        return any(comment.scores[label] >= limits[label] for label in limits)

    assert effect.comments == len(latest)
    assert effect.held_now == sum(held(c, thresholds) for c in latest)
    assert effect.held_then == sum(held(c, changed) for c in latest)
    assert effect.change == effect.held_then - effect.held_now < 0
    flipped = [c for c in latest if held(c, thresholds) != held(c, changed)]
    judged = [c for c in flipped if (c.held and c.decided) or c.report_rejected or (c.spot_checked and c.decided)]
    assert effect.bad == sum(1 for c in judged if c.report_rejected or c.rejected)
    assert effect.bad + effect.fine == len(judged) > 0


def test_a_reversed_decision_counts_once_with_its_last_verdict(db, site, simulated):
    """A decision changed later replaces its evidence rows (calib-data's rule): the report counts
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
    db.session.execute(
        CalibrationEvidence.__table__.update().where(CalibrationEvidence.comment_id == row.comment_id).values(bad=False)
    )
    db.session.commit()
    after = report.calibration_report(site, now=NOW).label("toxicity")
    assert after.holds_decided == before.holds_decided
    assert after.holds_rejected == before.holds_rejected - 1
    assert after.decisions == before.decisions


def test_decisions_by_a_host_key_count_like_a_moderators(db, site, simulated):
    deciders = db.session.execute(select(CalibrationEvidence.decider_type).distinct()).scalars().all()
    assert sorted(deciders) == ["host", "moderator"]
    before = report.calibration_report(site, now=NOW).label("toxicity")
    db.session.execute(CalibrationEvidence.__table__.update().values(decider_type="host"))
    db.session.commit()
    after = report.calibration_report(site, now=NOW).label("toxicity")
    # Equal up to the order PostgreSQL sums the weights in (the update rewrote every row).
    assert_same(
        (after.holds_decided, after.share_rejected, after.curve),
        (before.holds_decided, before.share_rejected, before.curve),
    )


def test_the_window_leaves_older_scores_and_decisions_out(db, site, simulated):
    days = 20
    short = report.calibration_report(site, days=days, now=NOW).label("toxicity")
    since = NOW - timedelta(days=days)
    inside = [
        c for c, created in zip(simulated.comments, simulated.created, strict=True) if created.date() >= since.date()
    ]
    assert short.scored == len(inside)
    decided = [c for c, at in zip(simulated.comments, simulated.decided, strict=True) if at is not None and at >= since]
    tally = sim.Loaded(comments=decided).tally(_thresholds(site))
    assert short.decisions == tally.data["toxicity"].decisions


def test_days_out_of_range_are_refused(db, site):
    for days in (0, report.MAX_DAYS + 1):
        with pytest.raises(Invalid):
            report.calibration_report(site, days=days)


def test_drift_compares_the_last_week_with_the_four_before(db, site):
    thresholds = _thresholds(site)
    recent_start = (NOW - timedelta(days=report.DRIFT_RECENT_DAYS)).date()
    boundary = datetime.combine(recent_start, time(), tzinfo=NOW.tzinfo)
    sim.load(
        site,
        sim.comments(11, 1200, thresholds),
        thresholds,
        n=1200,
        start=boundary - timedelta(days=28),
        end=boundary - timedelta(seconds=1),
    )
    shifted = {label: LabelScores(abusive=(1.5, 1.6), clean=(-1.0, 1.5)) for label in CLASSIFIER_LABELS}
    recent = sim.comments(12, 500, thresholds, labels=shifted)
    sim.load(site, recent, thresholds, n=500, start=boundary, end=NOW, model="detoxify-unbiased@test")
    db.session.commit()
    drift = report.calibration_report(site, now=NOW).label("toxicity").drift
    assert drift.psi is not None and drift.psi > estimates.DRIFT_PSI and drift.drifted
    assert (drift.recent_count, drift.reference_count) == (500, 1200)
    assert sum(drift.recent) == pytest.approx(1) and sum(drift.reference) == pytest.approx(1)
    assert len(drift.recent) == report.DRIFT_GROUPS
    assert drift.model_changed and drift.recent_models == ["detoxify-unbiased@test"]
    assert drift.reference_models == [sim.MODEL]
    assert drift.model_changed_on == recent_start


def test_same_distribution_is_no_drift(db, site):
    sim.load_simulation(site, 4000, seed=13, days=35)
    db.session.commit()
    drift = report.calibration_report(site, now=NOW).label("toxicity").drift
    assert drift.psi is not None and drift.psi < estimates.DRIFT_PSI and not drift.drifted
    assert not drift.model_changed and drift.model_changed_on is None


def test_score_bins_outside_the_window_are_not_counted(db, site, simulated):
    total = report.calibration_report(site, days=90, now=NOW).label("toxicity").scored
    db.session.add(
        ScoreBin(
            site_id=site.id,
            label="toxicity",
            day=(NOW - timedelta(days=200)).date(),
            model="",
            bin=3,
            scored=50,
            held=0,
            published=50,
        )
    )
    db.session.commit()
    assert report.calibration_report(site, days=90, now=NOW).label("toxicity").scored == total
    assert report.calibration_report(site, days=365, now=NOW).label("toxicity").scored == total + 50


def test_another_sites_data_is_not_counted(db, site, simulated):
    from comments.services.sites import create_site

    other, _ = create_site("other", [])
    sim.load_simulation(other, 500, seed=99)
    db.session.commit()
    assert report.calibration_report(site, now=NOW).label("toxicity").scored == len(simulated.comments)
    assert report.calibration_report(other, now=NOW).label("toxicity").scored == 500


# --- apply ---------------------------------------------------------------------------------------


def test_apply_sets_the_recommendation_with_its_evidence_in_the_audit_row(db, site, simulated):
    objective = Objective("hold_rate", 0.03)
    result = report.apply(site, MODERATOR, objective=objective, now=NOW)
    db.session.commit()
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
    assert figures["point"]["hold_rate"] <= 0.03
    assert set(figures["point"]["precision"]) == {"value", "low", "high"}
    # Every label is either applied or listed with the reason it was left alone.
    left = {item.label: item.reason for item in result.left_alone}
    assert set(left) | {c.label for c in result.applied} == set(CLASSIFIER_LABELS)
    assert set(left).isdisjoint(c.label for c in result.applied)


def test_apply_leaves_labels_without_enough_decisions_alone(db, site):
    sim.load_simulation(site, 1500, seed=8, labels=["toxicity"])
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


def test_apply_leaves_a_label_already_at_its_recommendation(db, site, simulated):
    # The candidates are 0.01 apart only near the current threshold: a recommendation far away is
    # refined once set, and settles within a few applications.
    objective = Objective("hold_rate", 0.03)
    results = [report.apply(site, MODERATOR, labels=["toxicity"], objective=objective, now=NOW) for _ in range(4)]
    assert results[0].applied
    assert results[-1].applied == [] and results[-1].left_alone[0].reason == report.UNCHANGED


def test_apply_refuses_an_unknown_label(db, site):
    with pytest.raises(Invalid) as refused:
        report.apply(site, MODERATOR, labels=["toxicity", "rudeness"])
    assert refused.value.code == "unknown_label"


def test_the_objective_setting_is_the_default(db, site, simulated):
    set_settings(site, calibration_objective={"kind": "hold_rate", "target": 0.05})
    result = report.calibration_report(site, now=NOW)
    assert result.objective == Objective("hold_rate", 0.05)


def test_the_backlog_leaves_out_checks_of_comments_no_longer_published(db, site, simulated):
    """A checked comment rejected after readers' reports (or deleted by its author) leaves the
    spot-check queue: the report counts what the queue shows, as the metrics do."""
    from comments.models import Comment, SpotCheck, Status

    waiting = db.session.scalars(select(SpotCheck.comment_id).where(SpotCheck.verdict.is_(None))).all()
    before = report.calibration_report(site, days=90, now=NOW).spot_check_backlog
    assert before == sum(1 for c in simulated.comments if c.spot_checked and not c.decided and not c.report_rejected)
    assert before > 1
    waiting = [i for i in waiting if db.session.get(Comment, i).status == Status.PUBLISHED.value]
    db.session.get(Comment, waiting[0]).status = Status.REJECTED.value
    db.session.get(Comment, waiting[1]).status = Status.DELETED.value
    db.session.commit()
    assert report.calibration_report(site, days=90, now=NOW).spot_check_backlog == before - 2
    assert report.site_metrics()[0].spot_check_backlog == before - 2


def test_a_few_spot_checks_give_no_site_miss_share(db, site):
    """Below the minimum the site's share of misses is "not enough decisions yet", as each label's:
    a handful of checks would give an interval from 0 to a half."""
    loaded = sim.load_simulation(site, 150, seed=6, spot_check_rate=0.05, report_rate=0.0)
    db.session.commit()
    answered = sum(1 for c in loaded.comments if c.spot_checked and c.decided)
    result = report.calibration_report(site, now=NOW)
    assert result.spot_checks_answered == answered > 0
    assert max(item.decisions for item in result.labels) < estimates.MIN_DECISIONS
    assert result.published_miss_share is None
