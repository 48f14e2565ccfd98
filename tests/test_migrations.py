"""Migrations on a database with data in it: 0010 turns author keys into author records (with
their names) and the old ``bans`` table into their statuses, and goes back.

The database is the configured test database: on PostgreSQL a schema of its own in it (the suite's
tables stay as they are), on SQLite a file of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from comments import create_app
from comments.extensions import db
from comments.models import Author, AuthorName, AuthorStatus, Comment
from comments.security import hash_email, hash_ip
from tests.helpers import TEST_DATABASE_URL

SCHEMA = "migration_proof"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture()
def database_url(tmp_path) -> Iterator[str]:
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    engine = sa.create_engine(TEST_DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    joiner = "&" if "?" in TEST_DATABASE_URL else "?"
    try:
        # Every table, alembic's version table included, goes to that schema alone.
        yield f"{TEST_DATABASE_URL}{joiner}options=-csearch_path%3D{SCHEMA}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()


@pytest.fixture()
def migrating(database_url: str) -> Iterator[Flask]:
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "x",
            "HASH_KEY": "migration-hash-key",
            "TESTING": True,
            "SCORING_MODE": "off",
            "WEBHOOK_DELIVERY": "worker",
            # Not RATELIMIT_ENABLED=False: Flask-Limiter's one limiter would stay off for every
            # later app of the suite (the widget's rate-limit test found it). Its posts are few.
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _table(name: str, *columns: str, json: tuple[str, ...] = ()) -> sa.TableClause:
    """The 0009 table as far as the seed writes it (the models describe the newest schema)."""
    return sa.table(name, *(sa.column(c) for c in columns), *(sa.column(c, sa.JSON) for c in json))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)  # as UTCDateTime stores it


def _seed_0009() -> dict[str, Any]:
    """Two sites; on "news": Ann by email who changed her name, an author by address with a ban,
    a ban on an address that never commented; on "blog": Ann's key again (another site, another
    person as far as we know)."""
    sites = _table("sites", "id", "slug", "name", "created_at", json=("allowed_origins", "settings"))
    threads = _table(
        "threads", "id", "site_id", "key", "title", "url", "closed", "published_count", "revision", "created_at"
    )
    comments = _table(
        "comments",
        *("id", "site_id", "thread_id", "depth", "author_name", "author_key", "author_email_hash", "body"),
        *("body_html", "body_fingerprint", "status", "reply_count", "report_count", "edit_nonce", "version"),
        *("created_at", "updated_at"),
        json=("reasons",),
    )
    bans = _table("bans", "id", "site_id", "author_key", "reason", "created_at")
    ann = hash_email("ann@example.org")
    rex = hash_ip("192.0.2.66")
    ghost = hash_ip("192.0.2.99")  # banned by a moderator; their comments were erased since
    with db.engine.begin() as conn:
        site_ids = {}
        for slug in ("news", "blog"):
            site_ids[slug] = conn.execute(
                sites.insert()
                .values(slug=slug, name=slug, allowed_origins=[], settings={}, created_at=_naive(T0))
                .returning(sites.c.id)
            ).scalar_one()
        thread_ids = {
            slug: conn.execute(
                threads.insert()
                .values(
                    site_id=site_id,
                    key="article-1",
                    title="",
                    url="",
                    closed=False,
                    published_count=0,
                    revision=0,
                    created_at=_naive(T0),
                )
                .returning(threads.c.id)
            ).scalar_one()
            for slug, site_id in site_ids.items()
        }
        posted = [
            ("news", "Ann", ann, ann, 0),
            ("news", "Rex", rex, None, 1),
            ("news", "Annie", ann, ann, 2),
            ("news", "Ann", ann, ann, 3),
            ("news", "Annie", ann, ann, 4),
            ("news", "Rex", rex, None, 5),
            ("blog", "Ann B.", ann, ann, 6),
            # Keys that name nobody: an erased comment, one whose address hash was purged.
            ("news", "", "erased", None, 7),
            ("news", "Someone", "ip-purged", None, 8),
        ]
        comment_ids = []
        for slug, name, key, email_hash, hours in posted:
            at = _naive(T0 + timedelta(hours=hours))
            comment_ids.append(
                conn.execute(
                    comments.insert()
                    .values(
                        site_id=site_ids[slug],
                        thread_id=thread_ids[slug],
                        depth=0,
                        author_name=name,
                        author_key=key,
                        author_email_hash=email_hash,
                        body=f"{name} at {hours}",
                        body_html=f"<p>{name} at {hours}</p>",
                        body_fingerprint=f"f{hours}",
                        status="published",
                        reasons=[],
                        reply_count=0,
                        report_count=0,
                        edit_nonce=f"n{hours}",
                        version=1,
                        created_at=at,
                        updated_at=at,
                    )
                    .returning(comments.c.id)
                ).scalar_one()
            )
        for key, reason, hours in ((rex, "abusive", 6), (ghost, "spam bot", 7)):
            conn.execute(
                bans.insert().values(
                    site_id=site_ids["news"],
                    author_key=key,
                    reason=reason,
                    created_at=_naive(T0 + timedelta(hours=hours)),
                )
            )
    return {"sites": site_ids, "comments": comment_ids, "ann": ann, "rex": rex, "ghost": ghost}


def test_0010_turns_author_keys_and_bans_into_author_records_and_back(migrating):
    if db.engine.dialect.name == "postgresql":  # the schema of its own, not the suite's tables
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_schema()")).scalar_one() == SCHEMA
    upgrade(revision="0009")
    seeded = _seed_0009()
    news, blog = seeded["sites"]["news"], seeded["sites"]["blog"]

    upgrade()
    assert "bans" not in sa.inspect(db.engine).get_table_names()
    authors = {(a.site_id, a.author_key): a for a in db.session.query(Author)}
    assert len(authors) == db.session.query(Author).count() == 4  # one per (site, key)
    assert set(authors) == {
        (news, seeded["ann"]),
        (news, seeded["rex"]),
        (news, seeded["ghost"]),
        (blog, seeded["ann"]),
    }
    ann = authors[(news, seeded["ann"])]
    assert ann.name == "Annie" and ann.email_hash == seeded["ann"] and ann.status == AuthorStatus.ACTIVE
    assert (ann.first_seen_at, ann.last_seen_at) == (T0, T0 + timedelta(hours=4))
    names = {n.name: n for n in db.session.query(AuthorName).filter_by(author_id=ann.id)}
    assert set(names) == {"Ann", "Annie"}
    assert (names["Ann"].first_used_at, names["Ann"].last_used_at) == (T0, T0 + timedelta(hours=3))
    assert (names["Annie"].first_used_at, names["Annie"].last_used_at) == (
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=4),
    )
    assert authors[(blog, seeded["ann"])].name == "Ann B."  # the same key on another site: another author
    rex = authors[(news, seeded["rex"])]
    assert (rex.status, rex.status_reason, rex.email_hash) == ("banned", "abusive", None)
    assert rex.status_changed_at == T0 + timedelta(hours=6)
    ghost = authors[(news, seeded["ghost"])]
    assert (ghost.status, ghost.status_reason, ghost.name) == ("banned", "spam bot", "")
    assert db.session.query(AuthorName).filter_by(author_id=ghost.id).count() == 0
    for comment in db.session.query(Comment):
        if comment.author_key in ("erased", "ip-purged"):
            assert comment.author_id is None  # not one record lumping everyone erased or purged together
            continue
        assert comment.author_id == authors[(comment.site_id, comment.author_key)].id
        assert comment.author_badges == [] and comment.author_verified is False

    # The banned address's next comment is held without a word to its author; another's is published.
    client = migrating.test_client()
    url = "/api/v1/sites/news/threads/article-1/comments"
    held = client.post(url, json={"body": "Back again", "author_name": "G"}, environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert held.status_code == 202, held.json
    assert "banned" not in str(held.json)
    db.session.expire_all()
    stored = db.session.get(Comment, held.json["comment"]["id"])
    assert stored.status == "held" and "author_banned" in stored.reason_codes and stored.author_id == ghost.id
    fine = client.post(url, json={"body": "Hello", "author_name": "Bo"}, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert fine.status_code == 201, fine.json
    db.session.commit()

    downgrade(revision="0009")
    inspector = sa.inspect(db.engine)
    assert not {"authors", "author_names", "sso_secrets", "revoked_sso_tokens"} & set(inspector.get_table_names())
    assert "author_id" not in {c["name"] for c in inspector.get_columns("comments")}
    with db.engine.connect() as conn:
        bans = conn.execute(sa.text("SELECT site_id, author_key, reason FROM bans ORDER BY reason")).all()
    assert [tuple(b) for b in bans] == [(news, seeded["rex"], "abusive"), (news, seeded["ghost"], "spam bot")]
    upgrade()  # and up again, from what the downgrade left
    assert db.session.query(Author).filter_by(status="banned").count() == 2
