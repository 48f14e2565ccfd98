"""Changing a site's settings: validated, merged label by label, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from comments.extensions import db as sa_db
from comments.models import AuditEvent, Site
from comments.services.audit import Actor
from comments.services.errors import Invalid
from comments.services.sites import effective_settings, update_settings

HOST = Actor("host", "key:test")


def test_thresholds_merge_per_label_and_the_change_is_audited(site):
    after = update_settings(site, {"thresholds": {"insult": 0.5}, "premoderation": "links"}, HOST)
    assert after["thresholds"]["insult"] == 0.5
    assert after["thresholds"]["toxicity"] == 0.7  # untouched labels keep their value
    assert after["premoderation"] == "links"
    event = sa_db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).scalar_one()
    changes = event.reasons[0]["changes"]
    assert changes["premoderation"] == {"before": "none", "after": "links"}
    assert event.actor_type == "host"


def test_reject_threshold_removed_with_null(site):
    update_settings(site, {"reject_thresholds": {"threat": 0.9, "insult": 0.95}}, HOST)
    after = update_settings(site, {"reject_thresholds": {"threat": None}}, HOST)
    assert after["reject_thresholds"] == {"insult": 0.95}


def test_words_are_normalised_and_deduplicated(site):
    after = update_settings(site, {"banned_words": ["Spam ", "spam", "scam"]}, HOST)
    assert after["banned_words"] == ["spam", "scam"]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"thresholds": {"toxicity": 1.5}}, "thresholds"),
        ({"thresholds": {"nonsense": 0.5}}, "thresholds"),
        ({"premoderation": "sometimes"}, "premoderation"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"allowed_origins": ["ftp://x"]}, "allowed_origins"),
        ({"allowed_origins": "https://x.example"}, "allowed_origins"),
    ],
)
def test_invalid_changes_are_refused_and_nothing_changes(site, changes, field):
    before = effective_settings(site)
    with pytest.raises(Invalid) as info:
        update_settings(site, changes, HOST)
    assert field in info.value.fields
    assert effective_settings(site) == before


def test_origins_change_through_the_same_call(site):
    update_settings(site, {"allowed_origins": ["https://news.example/", "https://www.news.example"]}, HOST)
    assert site.allowed_origins == ["https://news.example", "https://www.news.example"]


# --- calibration settings ------------------------------------------------------------------------


def test_the_calibration_defaults(site):
    settings = effective_settings(site)
    assert settings["calibration_objective"] == {"kind": "balance"}
    assert settings["auto_calibrate"] == {"enabled": False, "min": 0.3, "max": 0.95, "max_step": 0.05}


def test_the_objective_is_read_by_the_one_parser_and_stored_whole(site):
    after = update_settings(site, {"calibration_objective": {"kind": "precision", "target": 0.9}}, HOST)
    assert after["calibration_objective"] == {"kind": "precision", "target": 0.9}
    after = update_settings(site, {"calibration_objective": "balance"}, HOST)
    assert after["calibration_objective"] == {"kind": "balance"}


@pytest.mark.parametrize(
    "objective",
    [
        {"kind": "recall", "target": 0.5},
        {"kind": "precision"},
        {"kind": "precision", "target": 1.5},
        {"kind": "hold_rate", "target": "0.1"},
        {"kind": "balance", "target": 0.5},
        {"kind": "balance", "extra": 1},
        "precision",
        7,
        None,
    ],
)
def test_bad_objectives_are_refused(site, objective):
    with pytest.raises(Invalid) as refused:
        update_settings(site, {"calibration_objective": objective}, HOST)
    assert "calibration_objective" in refused.value.fields
    assert effective_settings(site)["calibration_objective"] == {"kind": "balance"}


def test_auto_calibrate_merges_and_checks_the_whole(site):
    after = update_settings(site, {"auto_calibrate": {"enabled": True}}, HOST)
    assert after["auto_calibrate"] == {"enabled": True, "min": 0.3, "max": 0.95, "max_step": 0.05}
    after = update_settings(site, {"auto_calibrate": {"min": 0.5, "max_step": 0.02}}, HOST)
    assert after["auto_calibrate"] == {"enabled": True, "min": 0.5, "max": 0.95, "max_step": 0.02}
    with pytest.raises(Invalid) as refused:
        update_settings(site, {"auto_calibrate": {"max": 0.4}}, HOST)  # under the stored min
    assert "auto_calibrate" in refused.value.fields
    assert effective_settings(site)["auto_calibrate"]["max"] == 0.95


@pytest.mark.parametrize(
    "value",
    [
        {"enabled": "yes"},
        {"enabled": 1},
        {"min": -0.1},
        {"max": 1.1},
        {"max_step": 0},
        {"max_step": 2},
        {"min": 0.9, "max": 0.2},
        {"step": 0.1},
        "on",
    ],
)
def test_bad_auto_calibrate_values_are_refused(site, value):
    with pytest.raises(Invalid) as refused:
        update_settings(site, {"auto_calibrate": value}, HOST)
    assert "auto_calibrate" in refused.value.fields


def test_a_change_from_data_carries_its_evidence_into_the_audit_row(site):
    evidence = {"kind": "calibration", "labels": {"insult": {"decisions": 40}}}
    update_settings(site, {"thresholds": {"insult": 0.6}}, HOST, evidence=evidence)
    event = sa_db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).scalar_one()
    assert event.reasons == [
        {
            "kind": "settings",
            "changes": {
                "thresholds": {
                    "before": event.reasons[0]["changes"]["thresholds"]["before"],
                    "after": effective_settings(site)["thresholds"],
                }
            },
        },
        evidence,
    ]


def test_a_change_another_request_made_meanwhile_is_kept(db, site):
    """The settings are one JSON value: a writer that read them before another request's change
    (a calibration apply computes its report first, seconds at a large site) must not write the
    stale whole back over that change."""
    site_id = site.id
    db.session.commit()
    stale = db.session.get(Site, site_id)
    assert effective_settings(stale)["banned_words"] == []
    with db.engine.begin() as other_request:
        other_request.execute(update(Site).where(Site.id == site_id).values(settings={"banned_words": ["spam"]}))
    update_settings(stale, {"thresholds": {"toxicity": 0.6}}, HOST)
    db.session.commit()
    db.session.expire_all()
    kept = effective_settings(db.session.get(Site, site_id))
    assert kept["banned_words"] == ["spam"]
    assert kept["thresholds"]["toxicity"] == 0.6
