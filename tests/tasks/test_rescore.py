"""`flask comments rescore`: a dry run first, then the changes, never over a moderator's decision."""

from __future__ import annotations

import pytest

from comments.models import AuditEvent, Comment
from tests.helpers import set_settings

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


# --- paging (the service, with a stand-in classifier: which comments it is given, not scores) ---


class _Recording:
    name = "recording"
    version = "1"

    def __init__(self):
        self.texts: list[str] = []

    def score(self, texts):
        self.texts.extend(texts)
        return [{"toxicity": 0.01} for _ in texts]


@pytest.fixture()
def mixed(api, db, site):
    """Comments on two sites, interleaved, in every status; two decided by a moderator."""
    from comments.services.sites import create_site
    from tests.helpers import Api

    create_site("other", ["https://news.example"])
    db.session.commit()
    other = Api(api.client, "other")
    statuses = ["published", "held", "rejected", "pending", "deleted", "published", "held", "rejected"]
    ids = {}
    for i, status in enumerate(statuses * 2):
        for name, poster in (("news", api), ("other", other)):
            body = f"{name} {status} {i}"
            ids[body] = poster.post(body, ip=f"192.0.2.{i}").json["comment"]["id"]
            db.session.get(Comment, ids[body]).status = status
    for body in ("news held 1", "news rejected 10"):
        db.session.get(Comment, ids[body]).decided_at = db.session.get(Comment, ids[body]).created_at
    db.session.commit()
    return ids


def _rescorable(ids, site_name=None):
    return sorted(
        body
        for body in ids
        if body.split()[1] in ("published", "held", "rejected")
        and body not in ("news held 1", "news rejected 10")
        and (site_name is None or body.startswith(site_name))
    )


@pytest.mark.parametrize("site_name", ["news", "other", None])
def test_rescore_pages_visit_every_comment_once(db, mixed, site_name):
    from comments.models import Site
    from comments.services.scoring import rescore

    site_id = db.session.query(Site).filter_by(slug=site_name).one().id if site_name else None
    recording = _Recording()
    result = rescore(recording, site_id=site_id, batch_size=2)
    assert sorted(recording.texts) == _rescorable(mixed, site_name)  # each once, none left out
    assert result.examined == len(recording.texts)
    db.session.expire_all()
    assert db.session.query(Comment).filter(Comment.scores.is_not(None)).count() == 0  # a dry run


def test_rescore_pages_seek_by_id_not_sort_the_site(db, mixed):
    """SQLite once took (site_id, status, created_at) for the page and sorted every comment of the
    site by id for each page of 32: a dry run over a large site grew with its square."""
    from sqlalchemy import event

    from comments.models import Site
    from comments.services.scoring import rescore

    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")
    pages: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT") and "ORDER BY comments.id" in statement:
            pages.append((statement, parameters))

    site = db.session.query(Site).filter_by(slug="news").one()
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        rescore(_Recording(), site_id=site.id, batch_size=2)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert pages
    statement, params = pages[-1]
    plan = " ".join(
        row[-1] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    )
    assert "TEMP B-TREE" not in plan and "id>?" in plan, plan
