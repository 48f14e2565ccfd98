"""`flask comments rescore`: a dry run first, then the changes, never over a moderator's decision."""

from __future__ import annotations

import pytest

from comments.models import AuditEvent, Comment
from tests.conftest import set_settings

TOXIC = "You are a stupid idiot and I will hurt you"


@pytest.fixture()
def rescore_cli(app, classifier_config):
    saved = {k: app.config.get(k) for k in classifier_config}
    app.config.update(classifier_config)
    yield lambda *args: app.test_cli_runner().invoke(args=["comments", "rescore", *args])
    app.config.update(saved)


def test_rescore_reports_then_applies(api, db, site, rescore_cli):
    clean = api.post("A calm remark about the budget").json["comment"]["id"]
    toxic = api.post(TOXIC, "Troll", ip="192.0.2.9").json["comment"]["id"]  # published: scoring was off
    dry = rescore_cli("--site", "news")
    assert dry.exit_code == 0, dry.output
    assert "Would change 1" in dry.output and "published -> held: 1" in dry.output
    assert "--apply" in dry.output
    db.session.expire_all()
    assert db.session.get(Comment, toxic).status == "published"  # nothing written
    assert db.session.get(Comment, toxic).scores is None
    applied = rescore_cli("--all", "--apply")
    assert "Changed 1" in applied.output
    db.session.expire_all()
    assert db.session.get(Comment, toxic).status == "held"
    assert db.session.get(Comment, clean).status == "published"
    assert db.session.get(Comment, clean).scores is not None
    assert db.session.query(AuditEvent).filter_by(action="rescored").count() == 1
    assert api.read().json["thread"]["comment_count"] == 1


def test_a_threshold_change_shows_before_it_applies(api, db, site, rescore_cli):
    api.post("A calm remark about the budget")
    set_settings(site, thresholds={"toxicity": 0.0})
    assert "published -> held: 1" in rescore_cli("--all").output


def test_moderator_decisions_stand(api, db, rescore_cli):
    from comments.models import Status
    from comments.services.audit import Actor
    from comments.services.moderation import change_status

    toxic = api.post(TOXIC).json["comment"]["id"]
    comment = db.session.get(Comment, toxic)
    change_status(comment, Status.PUBLISHED, Actor("moderator", "1"), "approved")
    db.session.commit()
    assert "No status would change" in rescore_cli("--all").output


def test_rescore_needs_a_scope_and_a_known_site(rescore_cli, db):
    assert rescore_cli().exit_code != 0
    assert rescore_cli("--site", "nope").exit_code != 0
    assert rescore_cli("--since", "yesterday").exit_code != 0
