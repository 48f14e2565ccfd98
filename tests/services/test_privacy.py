"""Privacy at scale: the purge in small batches, erasure where replies point at erased comments,
and the query plans that keep both proportional to what they change (SQLite's planner)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from comments.models import (
    AnalysisFeedback,
    AuditEvent,
    Comment,
    LoginFailure,
    Report,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from comments.security import hash_email, hash_ip
from comments.services.audit import Actor
from comments.services.privacy import Purge, Retention, erase_author, purge_batch, record_purge
from tests.helpers import set_settings


def _age(db, model, column, ids, days: int) -> None:
    db.session.query(model).filter(model.id.in_(ids)).update({column: utcnow() - timedelta(days=days)})
    db.session.commit()


@pytest.fixture()
def expired(app, db, api, site, moderator):
    """Seven old comments (three with an email), two recent, three old reports, old login
    failures and finished deliveries: more of each than a batch of two."""
    old = [
        api.post(
            f"Old words {i}",
            author=f"Old {i}",
            ip=f"192.0.2.{10 + i}",
            author_email=f"old{i}@example.org" if i % 2 else None,
        ).json["comment"]["id"]
        for i in range(7)
    ]
    new = [
        api.post(f"New words {i}", author=f"New {i}", ip=f"192.0.2.{40 + i}").json["comment"]["id"] for i in range(2)
    ]
    for i, comment_id in enumerate(old[:3] + new[:1]):
        api.client.post(
            f"/api/v1/comments/{comment_id}/reports",
            json={"reason": "spam"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{i}"},
        )
    _age(db, Comment, "created_at", old, 100)
    _age(db, Report, "created_at", [r.id for r in db.session.query(Report).filter(Report.comment_id.in_(old))], 100)
    for i in range(3):
        db.session.add(
            LoginFailure(
                moderator_id=moderator.id,
                address_key=hash_ip(f"old{i}"),
                failures=1,
                last_failure_at=utcnow() - timedelta(days=100),
            )
        )
    hook = Webhook(site_id=site.id, url="https://hooks.example.com/", events=["comment.held"], secret="whsec_x")
    db.session.add(hook)
    db.session.flush()
    for status in ("delivered", "failed", "delivered", "pending"):
        db.session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                event="comment.held",
                body="{}",
                status=status,
                attempt_log=[],
                created_at=utcnow() - timedelta(days=40),
            )
        )
    db.session.commit()
    return {"old": old, "new": new}


def test_a_purge_in_batches_of_two_drops_exactly_what_one_pass_would(db, expired):
    retention = Retention.days(90, 30)
    total, batches = Purge(), 0
    while (batch := purge_batch(retention, limit=2)).total:
        assert max(batch.comments, batch.reports, batch.login_failures, batch.deliveries) <= 2
        total.add(batch)
        batches += 1
        db.session.commit()
    record_purge(retention, total)
    db.session.commit()
    assert batches == 4  # seven comments, two at a time
    assert (total.comments, total.reports, total.login_failures, total.deliveries) == (7, 3, 3, 3)
    db.session.expire_all()
    for i, comment_id in enumerate(expired["old"]):
        comment = db.session.get(Comment, comment_id)
        assert comment.ip_hash is None
        # An author known by email keeps that key; one known only by address loses it.
        assert comment.author_key == (hash_email(f"old{i}@example.org") if i % 2 else "ip-purged")
    for i, comment_id in enumerate(expired["new"]):
        comment = db.session.get(Comment, comment_id)
        assert comment.ip_hash == comment.author_key == hash_ip(f"192.0.2.{40 + i}")
    hashes = {r.comment_id: r.reporter_hash for r in db.session.query(Report)}
    assert all(hashes[c].startswith("purged:") for c in expired["old"][:3])
    assert not hashes[expired["new"][0]].startswith("purged:")
    assert db.session.query(LoginFailure).count() == 0
    assert [d.status for d in db.session.query(WebhookDelivery)] == ["pending"]
    event_row = db.session.query(AuditEvent).filter_by(action="ip_hashes_purged").one()
    assert event_row.reasons[0]["comments"] == 7 and event_row.reasons[0]["webhook_deliveries"] == 3
    assert purge_batch(retention, limit=2).total == 0


def test_the_purge_command_commits_batch_by_batch(app, db, expired):
    commits: list[int] = []

    def count(session):
        commits.append(1)

    event.listen(db.session, "after_commit", count)
    try:
        result = app.test_cli_runner().invoke(args=["comments", "purge", "--ip-older-than", "90", "--batch-size", "2"])
    finally:
        event.remove(db.session, "after_commit", count)
    assert result.exit_code == 0, result.output
    assert "7 comments, 3 reports" in result.output and "Dropped 3 finished webhook deliveries" in result.output
    assert len(commits) == 5  # four batches, then the audit row
    assert db.session.query(AuditEvent).filter_by(action="ip_hashes_purged").count() == 1


def test_a_negative_retention_is_refused():
    with pytest.raises(ValueError):
        Retention.days(-1)
    with pytest.raises(ValueError):
        Retention.days(90, -1)


def test_erasing_a_comment_others_replied_to_past_the_depth_cap(db, api, site):
    """Past the depth cap a reply hangs under an ancestor and names the erased comment in
    reply_to_id: it stays, pointing at nothing (the foreign key's ON DELETE SET NULL)."""
    set_settings(site, max_depth=2)
    root = api.post("Root", author="Root").json["comment"]["id"]
    ann = api.post("Ann answers", author="Ann", author_email="ann@example.org", parent_id=root).json["comment"]["id"]
    bo = api.post("Bo answers Ann", author="Bo", ip="192.0.2.9", parent_id=ann).json["comment"]["id"]
    assert db.session.get(Comment, bo).parent_id == root and db.session.get(Comment, bo).reply_to_id == ann
    result = erase_author(site, Actor("host", "test"), email="ann@example.org")
    assert (result.erased, result.removed, result.tombstoned) == (1, 1, 0)
    db.session.expire_all()
    assert db.session.get(Comment, ann) is None
    kept = db.session.get(Comment, bo)
    assert kept.reply_to_id is None and kept.parent_id == root and kept.body == "Bo answers Ann"
    assert db.session.get(Comment, root).reply_count == 1


# --- query plans (SQLite: PostgreSQL's planner picks a sequential scan of tables this small) ---


def _sqlite_plan(db, statement: str, params=()) -> str:
    rows = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    return "\n".join(row[-1] for row in rows)


@pytest.fixture()
def sqlite_only(db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans")


def test_the_purge_reads_old_ip_hashes_through_an_index(db, sqlite_only, site):
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        purge_batch(Retention.days(90, 30))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    db.session.rollback()
    comments, _reports, _failures, deliveries, revoked = statements
    for statement, params in (comments, deliveries, revoked):
        plan = _sqlite_plan(db, statement, params)
        assert "SCAN comments" not in plan and "SCAN webhook_deliveries" not in plan, plan
        assert "SCAN revoked_sso_tokens" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_the_purge_reads_old_suggested_scores_through_an_index(db, sqlite_only, site):
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "analysis_feedback" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        purge_batch(Retention.days(90, 30, 365))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    db.session.rollback()
    ((statement, params),) = statements
    plan = _sqlite_plan(db, statement, params)
    assert "ix_analysis_feedback_created (created_at<?)" in plan, plan
    assert "SCAN analysis_feedback" not in plan and "TEMP B-TREE" not in plan, plan


def test_deleting_a_comment_finds_replies_to_it_through_an_index(db, sqlite_only):
    # The foreign keys' actions (CASCADE on parent_id, SET NULL on reply_to_id) look rows up so.
    for column in ("parent_id", "reply_to_id"):
        plan = _sqlite_plan(db, f"SELECT 1 FROM comments WHERE {column} = ?", (1,))
        assert "USING COVERING INDEX" in plan or "USING INDEX" in plan, plan
    assert "SCAN" not in _sqlite_plan(db, "SELECT 1 FROM comment_revisions WHERE comment_id = ?", (1,))


def test_an_export_reads_the_authors_comments_not_the_whole_site(db, sqlite_only, site):
    from comments.services.privacy import export_author

    pages: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "author_email_hash = ?" in statement and statement.lstrip().startswith("SELECT"):
            pages.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        export_author(site, email="ann@example.org", limit=10, cursor=None, actor=Actor("host", "test"))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    ((statement, params),) = pages
    plan = _sqlite_plan(db, statement, params)
    assert "ix_comments_email (site_id=? AND author_email_hash=?)" in plan and "TEMP B-TREE" not in plan, plan


def test_the_purge_unkeys_authors_known_only_by_an_old_address_and_drops_expired_sign_outs(db, api, site):
    from comments.models import Author, RevokedToken
    from comments.services import readers
    from comments.services.readers import AuthorStatus

    by_address = api.post("Old words", author="Old", ip="192.0.2.50").json["comment"]["id"]
    banned = api.post("Banned words", author="Ban", ip="192.0.2.51").json["comment"]["id"]
    by_email = api.post("Emailed", author="Em", ip="192.0.2.52", author_email="em@example.org").json["comment"]["id"]
    recent = api.post("Recent", author="New", ip="192.0.2.53").json["comment"]["id"]
    author_of = {c: db.session.get(Comment, c).author_id for c in (by_address, banned, by_email, recent)}
    readers.set_status(db.session.get(Author, author_of[banned]), AuthorStatus.BANNED, Actor("moderator", "1"))
    long_ago = utcnow() - timedelta(days=100)
    old_ids = [author_of[c] for c in (by_address, banned, by_email)]
    db.session.query(Author).filter(Author.id.in_(old_ids)).update({"last_seen_at": long_ago})
    old_comments = [by_address, banned, by_email]
    db.session.query(Comment).filter(Comment.id.in_(old_comments)).update({"created_at": long_ago})
    for jti, expires in (("gone", utcnow() - timedelta(hours=1)), ("kept", utcnow() + timedelta(hours=1))):
        db.session.add(RevokedToken(site_id=site.id, jti_hash=jti, expires_at=expires))
    db.session.commit()

    first = purge_batch(Retention.days(90, 30))
    assert (first.authors, first.revoked_tokens) == (1, 1)
    db.session.commit()
    db.session.expire_all()
    keys = {c: db.session.get(Author, a).author_key for c, a in author_of.items()}
    assert keys[by_address] == f"ip-purged:{author_of[by_address]}"
    assert keys[banned] == hash_ip("192.0.2.51")  # a moderator's ban by address stays
    assert keys[by_email] == hash_email("em@example.org")
    assert keys[recent] == hash_ip("192.0.2.53")
    assert [t.jti_hash for t in db.session.query(RevokedToken)] == ["kept"]
    assert purge_batch(Retention.days(90, 30)).total == 0
    # The same address posting again is somebody new.
    again = api.post("Back", author="Old", ip="192.0.2.50").json["comment"]["id"]
    assert db.session.get(Comment, again).author_id != author_of[by_address]


def test_the_purge_command_drops_feedback_after_the_configured_days(app, db, site, monkeypatch):
    from comments.services import analysis
    from comments.services.apikeys import issue_key

    key, _ = issue_key(site, "coral", ["analyze"])
    rows = [
        analysis.record_feedback(
            key, {"comment": {"text": f"t{i}"}, "attributeScores": {"INSULT": {"summaryScore": {}}}}
        )
        for i in range(3)
    ]
    for row, days in zip(rows, (10, 40, 400), strict=True):
        row.created_at = utcnow() - timedelta(days=days)
    db.session.commit()
    monkeypatch.setitem(app.config, "ANALYSIS_FEEDBACK_DAYS", 30)
    result = app.test_cli_runner().invoke(args=["comments", "purge"])
    assert result.exit_code == 0, result.output
    assert "Dropped 2 suggested scores older than 30 days." in result.output
    result = app.test_cli_runner().invoke(args=["comments", "purge", "--feedback-older-than", "5"])
    assert "Dropped 1 suggested scores older than 5 days." in result.output
    assert db.session.query(AnalysisFeedback).count() == 0
    purges = db.session.query(AuditEvent).filter_by(action="ip_hashes_purged").order_by(AuditEvent.id).all()
    assert [p.reasons[0]["analysis_feedback"] for p in purges] == [2, 1]
