"""Auto-calibration: off unless a site turns it on; then once a day, the recommendation clamped to
the site's bounds and moved at most max_step, audited as system/calibration with the evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from comments.models import AuditEvent, utcnow
from comments.services.sites import effective_settings
from comments.tasks import calibration
from tests import calibration_data as sim
from tests.helpers import set_settings


@pytest.fixture()
def decided(db, site):
    """Simulated decisions up to now, and an objective whose recommendation is far above 0.7."""
    comments = sim.load_simulation(site, 2000, seed=3, end=utcnow())
    set_settings(site, calibration_objective={"kind": "hold_rate", "target": 0.01})
    db.session.commit()
    return comments


def _events(db):
    return db.session.execute(select(AuditEvent).where(AuditEvent.actor_id == "calibration")).scalars().all()


def test_off_by_default(db, site, decided):
    assert calibration.calibrate_due() == []
    assert effective_settings(site)["thresholds"]["toxicity"] == 0.7
    assert _events(db) == []


def test_a_run_moves_at_most_max_step_towards_the_recommendation(db, site, decided):
    set_settings(site, auto_calibrate={"enabled": True, "max_step": 0.05})
    [run] = calibration.calibrate_due()
    db.session.expire_all()
    toxicity = next(change for change in run.result.applied if change.label == "toxicity")
    assert toxicity.recommended > 0.75  # far away...
    assert (toxicity.before, toxicity.after) == (0.7, 0.75)  # ...one step at a time
    assert effective_settings(site)["thresholds"]["toxicity"] == 0.75
    [event] = _events(db)
    assert (event.actor_type, event.action) == ("system", "settings_changed")
    evidence = event.reasons[1]
    assert evidence["bounds"] == {"enabled": True, "min": 0.3, "max": 0.95, "max_step": 0.05}
    assert evidence["labels"]["toxicity"]["recommended"] == toxicity.recommended
    assert evidence["objective"] == {"kind": "hold_rate", "target": 0.01}


def test_the_bounds_clamp_the_recommendation(db, site, decided):
    set_settings(site, auto_calibrate={"enabled": True, "max": 0.72, "max_step": 0.5})
    [run] = calibration.calibrate_due()
    toxicity = next(change for change in run.result.applied if change.label == "toxicity")
    assert toxicity.after == 0.72
    # Nothing outside the bounds, whatever the recommendation.
    assert all(0.3 <= change.after <= 0.72 for change in run.result.applied)


def test_once_a_day_per_site(db, site, decided):
    set_settings(site, auto_calibrate={"enabled": True, "max_step": 0.05})
    assert len(calibration.calibrate_due()) == 1
    assert calibration.calibrate_due() == []  # the same day: nothing
    assert calibration.calibrate_due(now=utcnow() + timedelta(hours=23)) == []
    [run] = calibration.calibrate_due(now=utcnow() + timedelta(hours=25))
    db.session.expire_all()
    assert effective_settings(site)["thresholds"]["toxicity"] == 0.8
    assert len(_events(db)) == 2


def test_without_enough_decisions_nothing_changes_and_the_look_is_audited(db, site):
    set_settings(site, auto_calibrate={"enabled": True})
    [run] = calibration.calibrate_due()
    assert run.result.applied == []
    assert effective_settings(site)["thresholds"] == dict.fromkeys(effective_settings(site)["thresholds"], 0.7)
    [event] = _events(db)
    assert event.action == "calibration_checked"
    assert set(event.reasons[0]["left_alone"].values()) == {"not_enough_decisions"}
    assert calibration.calibrate_due() == []  # that look counts as the day's run


def test_a_site_turned_off_again_is_left_alone(db, site, decided):
    set_settings(site, auto_calibrate={"enabled": True})
    set_settings(site, auto_calibrate={"enabled": False})
    assert calibration.calibrate_due(now=utcnow() + timedelta(days=3)) == []
    assert _events(db) == []


def test_one_sites_failure_leaves_the_others(db, site, decided, monkeypatch):
    from comments.services.sites import create_site

    other, _ = create_site("other", [])
    set_settings(other, auto_calibrate={"enabled": True})
    set_settings(site, auto_calibrate={"enabled": True})
    real_apply = calibration.report.apply

    def failing(target, *args, **kwargs):
        if target.slug == "news":
            raise RuntimeError("broken data")
        return real_apply(target, *args, **kwargs)

    monkeypatch.setattr(calibration.report, "apply", failing)
    runs = calibration.calibrate_due()
    assert [run.site_slug for run in runs] == ["other"]


def test_the_schedule_checks_at_most_every_check_seconds(monkeypatch):
    calls = []
    monkeypatch.setattr(calibration, "calibrate_due", lambda: calls.append(1) or [])
    schedule = calibration.CalibrationSchedule(check_seconds=3600)
    schedule.run_if_due()
    schedule.run_if_due()
    assert calls == [1]
    schedule._next = 0  # an hour later
    schedule.run_if_due()
    assert calls == [1, 1]
