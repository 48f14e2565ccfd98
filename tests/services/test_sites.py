"""Changing a site's settings: validated, merged label by label, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from comments.extensions import db as sa_db
from comments.models import AuditEvent
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
