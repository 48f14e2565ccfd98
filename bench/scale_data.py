#!/usr/bin/env python3
"""Build a database of N comments fast, shaped like a year of a busy service, for bench/scale.py.

    .venv/bin/python bench/scale_data.py --url sqlite:////tmp/scale10k.db --comments 10000
    .venv/bin/python bench/scale_data.py --url postgresql://postgres@127.0.0.1:5432/scale1m \
        --comments 1000000 --replace
    .venv/bin/python bench/scale_data.py --url ... --check      # counters, through the real API

The schema comes from the real migrations (``flask db upgrade`` on an empty database) and the two
sites from ``services.sites.create_site``; everything else goes in with direct SQL (executemany
with PRAGMAs off on SQLite, COPY on PostgreSQL; the tables' secondary indexes are dropped during
the load and made again after it, as the migrations named them). The rows are what the service
itself would have written:

* N/50 threads (20,000 at 1M) on two sites (60/40), sizes Zipf-like (the i-th thread gets ~1/i of
  the rest) plus one very big thread (1% of N);
* ~60% replies, nested under earlier published comments of their thread, placed as
  ``submission.place_reply`` places them (depth capped at max_depth=6, ``reply_to_id`` past the cap);
* scoring was on: every comment was "submitted" (pending) and "scored" by the classifier (scores,
  max_score, reasons when held); 5% still wait held, 3% were held and approved, 1.2% held and
  rejected by a moderator, 0.8% rejected by the classifier's reject thresholds (2% rejected);
  1.5% of published comments were reported by 1-5 readers (reports rows, report_count, at 3:
  reported_at and "queued_for_review"), half of those queued then approved by a moderator;
* created_at over the last year (ids in time order, as an autoincrement gives them), audit ids
  in time order too; updated_at the last change; version counts the row's updates;
* counters as ``services.moderation`` keeps them: threads.published_count, threads.revision
  (bumped by every move readers can see), comments.reply_count (published direct replies).

``--check`` reads a sample of threads and counts through the public API (a test client on the
same database) and compares them with what the rows say.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))
import seed_data  # noqa: E402

SITES = (("news", 0.6), ("blog", 0.4))
MAX_DEPTH = 6  # DEFAULT_SETTINGS["max_depth"]
REPORT_THRESHOLD = 3  # DEFAULT_SETTINGS["report_threshold"]
LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
HOLD_AT = 0.7
MODEL = "bench-classifier 1"
MODERATOR_ID = "1"
BODY_POOL = 4000
COMMENTS_PER_THREAD = 50
BIG_THREAD_SHARE = 0.01
REPLY_SHARE = 0.6
YEAR = timedelta(days=365)
CHUNK = 20_000


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- the shape ----------------------------------------------------------------------------------


def thread_sizes(total: int, threads: int) -> list[int]:
    """One big thread, then Zipf-like sizes (at least 1 each) that add up to ``total``."""
    big = max(2, int(total * BIG_THREAD_SHARE))
    rest = total - big
    others = threads - 1
    weights = [1.0 / (i + 1) ** 0.9 for i in range(others)]
    scale = (rest - others) / sum(weights)
    sizes = [1 + int(w * scale) for w in weights]
    short = rest - sum(sizes)
    for i in range(short):  # the rounding's remainder, one each to the biggest
        sizes[i % others] += 1
    return [big, *sizes]


class Outcome:
    PUBLISHED = "published"
    HELD = "held"  # still waiting
    HELD_APPROVED = "held_approved"
    HELD_REJECTED = "held_rejected"
    AUTO_REJECTED = "auto_rejected"


def draw_outcome(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return Outcome.HELD
    if roll < 0.062:
        return Outcome.HELD_REJECTED
    if roll < 0.07:
        return Outcome.AUTO_REJECTED
    if roll < 0.10:
        return Outcome.HELD_APPROVED
    return Outcome.PUBLISHED


FINAL_STATUS = {
    Outcome.PUBLISHED: "published",
    Outcome.HELD: "held",
    Outcome.HELD_APPROVED: "published",
    Outcome.HELD_REJECTED: "rejected",
    Outcome.AUTO_REJECTED: "rejected",
}
SCORED_STATUS = {
    Outcome.PUBLISHED: "published",
    Outcome.HELD: "held",
    Outcome.HELD_APPROVED: "held",
    Outcome.HELD_REJECTED: "held",
    Outcome.AUTO_REJECTED: "rejected",
}


def author_email(slug: str, author: int) -> str:
    """The email of the author numbered ``author`` (the number ends their name) on a site."""
    return f"reader{author}@{slug}.example.org"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def iso(moment: datetime) -> datetime:
    """Naive UTC, as ``models.UTCDateTime`` stores it."""
    return moment.replace(tzinfo=None)


class Draft:
    """One comment before ids: its thread, time, place in the thread and what happened to it."""

    __slots__ = (
        "thread",
        "site",
        "at",
        "parent",
        "outcome",
        "author",
        "body",
        "id",
        "depth",
        "root",
        "attach",
        "reply_to",
        "reports",
        "decided_at",
        "scores",
        "reported_at",
        "report_decided",
    )

    def __init__(self, thread: int, site: int, at: datetime, outcome: str, author: int, body: int):
        self.thread, self.site, self.at, self.outcome = thread, site, at, outcome
        self.author, self.body = author, body
        self.parent: Draft | None = None  # whom it answers
        self.attach: Draft | None = None  # where it is shown (parent_id)
        self.id = 0
        self.depth = 0
        self.root: Draft | None = None
        self.reply_to: Draft | None = None
        self.reports: list[datetime] = []
        self.decided_at: datetime | None = None
        self.reported_at: datetime | None = None
        self.report_decided: datetime | None = None
        self.scores: dict[str, float] = {}


def place(draft: Draft, parent: Draft) -> None:
    """``submission.place_reply``: under the parent, or past the depth cap under its deepest allowed ancestor."""
    attach = parent
    while attach.depth + 1 > MAX_DEPTH - 1 and attach.attach is not None:
        attach = attach.attach
    draft.parent, draft.attach = parent, attach
    draft.root = parent.root or parent
    draft.depth = attach.depth + 1
    draft.reply_to = parent if attach is not parent else None


def build_drafts(total: int, rng: random.Random, now: datetime) -> tuple[list[dict], list[Draft]]:
    thread_count = max(4, round(total / COMMENTS_PER_THREAD))
    sizes = thread_sizes(total, thread_count)
    authors_per_site = max(50, total // 8)
    threads: list[dict] = []
    drafts: list[Draft] = []
    reply_chance = min(0.95, REPLY_SHARE * COMMENTS_PER_THREAD / (COMMENTS_PER_THREAD - 1))
    for index, size in enumerate(sizes):
        site = 0 if index == 0 or rng.random() < SITES[0][1] else 1
        if index == 0:  # the big thread: running for most of the year
            start = now - timedelta(days=300)
            offsets = sorted(rng.uniform(0, (now - start).total_seconds() - 120) for _ in range(size))
        else:
            start = now - timedelta(seconds=rng.uniform(3600, YEAR.total_seconds()))
            room = (now - start).total_seconds() - 60
            # Most comments in the first days; a long tail.
            offsets = sorted(min(room, rng.expovariate(1 / 86400.0) * (1 + rng.random())) for _ in range(size))
        threads.append({"index": index, "site": site, "created_at": start, "key": f"article-{index + 1}"})
        published: list[Draft] = []
        roots: list[Draft] = []
        last = start
        for offset in offsets:
            at = max(last + timedelta(microseconds=1), start + timedelta(seconds=offset))
            last = at
            author = (
                int(rng.paretovariate(1.2)) % authors_per_site
                if rng.random() < 0.5
                else rng.randrange(authors_per_site)
            )
            draft = Draft(index, site, at, draw_outcome(rng), author, rng.randrange(BODY_POOL))
            if published and rng.random() < reply_chance:
                pool = roots if roots and rng.random() < 0.5 else published
                # Recent comments get most replies.
                parent = pool[max(0, len(pool) - 1 - int(rng.expovariate(1 / 20.0)))]
                place(draft, parent)
            if draft.outcome == Outcome.PUBLISHED or draft.outcome == Outcome.HELD_APPROVED:
                published.append(draft)
                if draft.attach is None:
                    roots.append(draft)
            drafts.append(draft)
    return threads, drafts


def decide_histories(drafts: list[Draft], rng: random.Random, now: datetime) -> None:
    latest = now - timedelta(seconds=1)
    for draft in drafts:
        scored_at = draft.at + timedelta(seconds=1)
        top = (
            rng.uniform(HOLD_AT, 0.99)
            if SCORED_STATUS[draft.outcome] != "published"
            else rng.betavariate(0.6, 6) * 0.69
        )
        label = rng.choice(LABELS) if SCORED_STATUS[draft.outcome] != "published" else "toxicity"
        draft.scores = {name: round(top if name == label else top * rng.random(), 4) for name in LABELS}
        if draft.outcome in (Outcome.HELD_APPROVED, Outcome.HELD_REJECTED):
            delay = math.exp(rng.gauss(math.log(7200), 1.5))
            draft.decided_at = min(latest, scored_at + timedelta(seconds=delay))
        if draft.outcome == Outcome.PUBLISHED and rng.random() < 0.015:
            when = scored_at
            for _ in range(rng.randint(1, 5)):
                when = min(latest, when + timedelta(seconds=rng.expovariate(1 / 3600.0)))
                draft.reports.append(when)
            if len(draft.reports) >= REPORT_THRESHOLD:
                draft.reported_at = draft.reports[REPORT_THRESHOLD - 1]
                if rng.random() < 0.5:
                    delay = math.exp(rng.gauss(math.log(7200), 1.5))
                    draft.report_decided = min(latest, draft.reports[-1] + timedelta(seconds=delay))


# --- rows ----------------------------------------------------------------------------------------


def body_pool(rng: random.Random) -> list[tuple[str, str, str]]:
    from comments.services import rendering

    pool = []
    for _ in range(BODY_POOL):
        text = seed_data.body(rng)
        pool.append((text, rendering.render(text), rendering.fingerprint(text)))
    return pool


def held_reasons(draft: Draft) -> list[dict]:
    label = max(draft.scores, key=draft.scores.get)
    effect = "reject" if draft.outcome == Outcome.AUTO_REJECTED else "hold"
    threshold = 0.9 if effect == "reject" else HOLD_AT
    return [
        {
            "kind": "classifier",
            "code": "label_over_threshold",
            "label": label,
            "score": draft.scores[label],
            "threshold": threshold,
            "effect": effect,
            "model": MODEL,
        }
    ]


class Rows:
    """The rows of every table, in insert order, as dicts keyed by column name."""

    def __init__(
        self,
        threads: list[dict],
        drafts: list[Draft],
        site_ids: list[int],
        rng: random.Random,
        first_thread_id: int,
        first_comment_id: int,
        hash_key: bytes,
    ):
        self.threads, self.drafts, self.site_ids = threads, drafts, site_ids
        self.hash_key = hash_key
        self.authors: dict[tuple[int, int], tuple[str, str | None, str, str]] = {}
        self.rng = rng
        self.pool = body_pool(rng)
        for offset, thread in enumerate(threads):
            thread["id"] = first_thread_id + offset
        drafts.sort(key=lambda d: d.at)
        for offset, draft in enumerate(drafts):
            draft.id = first_comment_id + offset
        self.published_count = [0] * len(threads)
        self.revision = [0] * len(threads)
        self.reply_count: dict[int, int] = {}
        for draft in drafts:
            final = FINAL_STATUS[draft.outcome]
            if final == "published":
                self.published_count[draft.thread] += 1
                if draft.attach is not None:
                    self.reply_count[draft.attach.id] = self.reply_count.get(draft.attach.id, 0) + 1
            # _follow_visibility bumps the revision on moves readers see: scored to published,
            # approved (held -> published, or published -> published after reports).
            if SCORED_STATUS[draft.outcome] == "published":
                self.revision[draft.thread] += 1
            if draft.outcome == Outcome.HELD_APPROVED or draft.report_decided is not None:
                self.revision[draft.thread] += 1

    def author(self, draft: Draft) -> tuple[str, str | None, str, str]:
        """(name, email hash, author key, ip hash), hashed as ``comments.security`` hashes them, so
        that a privacy request for ``author_email(slug, n)`` finds the author's comments."""
        key = (draft.site, draft.author)
        found = self.authors.get(key)
        if found is None:
            slug = SITES[draft.site][0]
            ip_hash = self.keyed_hash("ip", f"10.{draft.site}.{draft.author // 256 % 256}.{draft.author % 256}")
            email_hash = self.keyed_hash("email", author_email(slug, draft.author)) if draft.author % 3 else None
            found = self.authors[key] = (
                f"{seed_data._FIRST[draft.author % 26]} {seed_data._LAST[draft.author % 24]} {draft.author}",
                email_hash,
                email_hash or ip_hash,
                ip_hash,
            )
        return found

    def keyed_hash(self, kind: str, value: str) -> str:
        return hmac.new(self.hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def thread_rows(self) -> list[dict]:
        return [
            {
                "id": t["id"],
                "site_id": self.site_ids[t["site"]],
                "key": t["key"],
                "title": f"Article {t['index'] + 1}",
                "url": f"https://example.org/articles/{t['index'] + 1}",
                "closed": False,
                "published_count": self.published_count[t["index"]],
                "revision": self.revision[t["index"]],
                "created_at": iso(t["created_at"]),
            }
            for t in self.threads
        ]

    def comment_rows(self):
        rng = self.rng
        for draft in self.drafts:
            name, email_hash, author_key, ip_hash = self.author(draft)
            text, html, fingerprint = self.pool[draft.body]
            final = FINAL_STATUS[draft.outcome]
            reasons = held_reasons(draft) if SCORED_STATUS[draft.outcome] != "published" else []
            version = 2 + (draft.decided_at is not None) + len(draft.reports) + (draft.report_decided is not None)
            changes = [draft.at + timedelta(seconds=1), *draft.reports]
            if draft.decided_at:
                changes.append(draft.decided_at)
            if draft.report_decided:
                changes.append(draft.report_decided)
            decided_at = draft.decided_at or draft.report_decided
            yield {
                "id": draft.id,
                "site_id": self.site_ids[draft.site],
                "thread_id": self.threads[draft.thread]["id"],
                "parent_id": draft.attach.id if draft.attach else None,
                "root_id": draft.root.id if draft.root else None,
                "reply_to_id": draft.reply_to.id if draft.reply_to else None,
                "depth": draft.depth,
                "author_name": name,
                "author_email_hash": email_hash,
                "author_key": author_key,
                "ip_hash": ip_hash,
                "body": text,
                "body_html": html,
                "body_fingerprint": fingerprint,
                "status": final,
                "reasons": json.dumps(reasons),
                "reason_codes": " ".join(sorted({r["code"] for r in reasons} | {r["label"] for r in reasons})),
                "scores": json.dumps(draft.scores),
                "max_score": max(draft.scores.values()),
                "model_name": MODEL,
                "scored_at": iso(draft.at + timedelta(seconds=1)),
                "needs_scoring": False,
                "reply_count": self.reply_count.get(draft.id, 0),
                "report_count": len(draft.reports),
                "reported_at": iso(draft.reported_at) if draft.reported_at and not draft.report_decided else None,
                "edit_nonce": f"{rng.getrandbits(128):032x}",
                "version": version,
                "created_at": iso(draft.at),
                "edited_at": None,
                "decided_at": iso(decided_at) if decided_at else None,
                "updated_at": iso(max(changes)),
                "import_ref": None,
            }

    def events_and_reports(self) -> tuple[list[tuple], list[dict]]:
        """Audit events as (created_at, row) to be sorted, and report rows."""
        events: list[tuple] = []
        reports: list[dict] = []
        for draft in self.drafts:
            site = self.site_ids[draft.site]
            _name, _email, author_key, _ip = self.author(draft)
            scored = SCORED_STATUS[draft.outcome]
            reasons = held_reasons(draft) if scored != "published" else []
            events.append(
                (draft.at, (site, draft.id, "author", author_key[:16], "submitted", "pending", "pending", "[]"))
            )
            events.append(
                (
                    draft.at + timedelta(seconds=1),
                    (site, draft.id, "system", "classifier", "scored", "pending", scored, json.dumps(reasons)),
                )
            )
            if draft.decided_at is not None:
                action = "approved" if draft.outcome == Outcome.HELD_APPROVED else "rejected"
                note = {
                    "kind": "moderator",
                    "code": action[:-1] if action == "approved" else "reject",
                    "reason": "",
                    "moderator": "mod@example.org",
                    "was_reported_at": None,
                    "was_decided_at": None,
                    "ban_created": False,
                }
                events.append(
                    (
                        draft.decided_at,
                        (
                            site,
                            draft.id,
                            "moderator",
                            MODERATOR_ID,
                            action,
                            "held",
                            FINAL_STATUS[draft.outcome],
                            json.dumps(reasons + [note]),
                        ),
                    )
                )
            for number, when in enumerate(draft.reports, 1):
                reporter = sha(f"reader {draft.id} {number}")
                reason = ("spam", "abuse", "offensive", "other")[number % 4]
                reports.append(
                    {
                        "comment_id": draft.id,
                        "reason": reason,
                        "note": "",
                        "reporter_hash": reporter,
                        "created_at": iso(when),
                    }
                )
                events.append(
                    (
                        when,
                        (
                            site,
                            draft.id,
                            "reader",
                            reporter[:16],
                            "reported",
                            None,
                            None,
                            json.dumps([{"kind": "report", "code": "reader_report", "reason": reason, "note": ""}]),
                        ),
                    )
                )
                if number == REPORT_THRESHOLD:
                    events.append(
                        (
                            when,
                            (
                                site,
                                draft.id,
                                "system",
                                "pipeline",
                                "queued_for_review",
                                None,
                                None,
                                json.dumps(
                                    [
                                        {
                                            "kind": "rule",
                                            "code": "report_threshold",
                                            "reports": number,
                                            "threshold": REPORT_THRESHOLD,
                                        }
                                    ]
                                ),
                            ),
                        )
                    )
            if draft.report_decided is not None:
                note = {
                    "kind": "moderator",
                    "code": "approve",
                    "reason": "",
                    "moderator": "mod@example.org",
                    "was_reported_at": draft.reported_at.isoformat().replace("+00:00", "Z"),
                    "was_decided_at": None,
                    "ban_created": False,
                }
                events.append(
                    (
                        draft.report_decided,
                        (
                            site,
                            draft.id,
                            "moderator",
                            MODERATOR_ID,
                            "approved",
                            "published",
                            "published",
                            json.dumps([note]),
                        ),
                    )
                )
        events.sort(key=lambda item: item[0])
        return events, reports


EVENT_COLUMNS = (
    "site_id",
    "comment_id",
    "actor_type",
    "actor_id",
    "action",
    "from_status",
    "to_status",
    "reasons",
    "created_at",
)


# --- the database ---------------------------------------------------------------------------------


def make_app(url: str):
    os.environ.setdefault("COMMENTS_SECRET_KEY", "bench")
    from comments import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "SQLALCHEMY_DATABASE_URI": url,
            "SCORING_MODE": "off",
            "RATELIMIT_ENABLED": False,
            "WEBHOOK_DELIVERY": "worker",
        }
    )


def reset_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


LOADED_TABLES = ("threads", "comments", "audit_events", "reports")


def secondary_indexes(conn, postgres: bool) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the loaded tables' indexes that no constraint owns."""
    if postgres:
        rows = conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            (list(LOADED_TABLES),),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({})".format(
                ",".join("?" * len(LOADED_TABLES))
            ),
            LOADED_TABLES,
        ).fetchall()
    return [(name, sql) for name, sql in rows]


class Writer:
    """Plain DBAPI inserts: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, url: str):
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
            # The rows are consistent by construction (--check verifies): no per-row FK triggers.
            self.conn.execute("SET session_replication_role = replica")
            self.conn.execute("SET maintenance_work_mem = '512MB'")
        else:
            import sqlite3

            self.conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
            for pragma in (
                "journal_mode=OFF",
                "synchronous=OFF",
                "cache_size=-400000",
                "temp_store=MEMORY",
                "foreign_keys=OFF",
                "locking_mode=EXCLUSIVE",
            ):
                self.conn.execute(f"PRAGMA {pragma}")
            self.conn.execute("BEGIN")
        self.indexes = secondary_indexes(self.conn, self.postgres)
        for name, _sql in self.indexes:
            self.conn.execute(f'DROP INDEX "{name}"')

    def insert(self, table: str, columns: tuple[str, ...], rows) -> int:
        count = 0
        if self.postgres:
            with self.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[tuple] = []
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= CHUNK:
                self.conn.executemany(statement, batch)
                count += len(batch)
                batch = []
        self.conn.executemany(statement, batch)
        return count + len(batch)

    def finish(self) -> None:
        started = time.monotonic()
        for _name, sql in self.indexes:
            self.conn.execute(sql)
        log(f"indexes made again in {time.monotonic() - started:.1f}s")
        if self.postgres:
            for table in LOADED_TABLES:
                self.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            self.conn.commit()
            self.conn.autocommit = True
            # Autovacuum would analyze tables this size within minutes; the benchmark should not race it.
            self.conn.execute("VACUUM ANALYZE")
        else:
            self.conn.execute("COMMIT")
            self.conn.execute("PRAGMA locking_mode=NORMAL")
            self.conn.execute("PRAGMA journal_mode=WAL")  # what the service sets on every connection
        self.conn.close()


def rebuild_figures(url: str) -> None:
    """The moderation figures kept from the audit log (migration 0006 on), filled from the rows
    just loaded with the service's own backfill."""
    try:
        from comments.services.figures import rebuild
    except ImportError:  # a schema from before the figures were kept
        return
    import sqlalchemy as sa

    started = time.monotonic()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        days, waits = rebuild(connection)
    engine.dispose()
    log(f"moderation figures: {days} site-days, {waits} decisions ({time.monotonic() - started:.1f}s)")


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def load(url: str, total: int, seed: int, replace: bool) -> None:
    started = time.monotonic()
    if replace:
        reset_database(url)
    app = make_app(url)
    import flask_migrate
    from sqlalchemy import func, select

    from comments.extensions import db
    from comments.models import Comment, Site
    from comments.services import accounts, sites

    with app.app_context():
        flask_migrate.upgrade(directory=str(REPO / "migrations"))
        if db.session.execute(select(func.count()).select_from(Comment)).scalar_one():
            raise SystemExit("the database holds comments already: use --replace (drops everything)")
        site_ids = []
        for slug, _share in SITES:
            site = db.session.execute(select(Site).where(Site.slug == slug)).scalar_one_or_none()
            if site is None:
                site, _key = sites.create_site(slug, ["https://example.org"], name=slug.title())
                db.session.flush()
            site_ids.append(site.id)
        if not db.session.execute(select(func.count()).select_from(accounts.Moderator)).scalar_one():
            accounts.create_moderator("mod@example.org", "bench-password-123", [])
        db.session.commit()
        hash_key = app.config["HASH_KEY"].encode()
        db.session.remove()
        db.engine.dispose()
    log(f"schema and sites ready ({time.monotonic() - started:.1f}s)")

    rng = random.Random(seed)
    now = datetime.now(UTC)
    threads, drafts = build_drafts(total, rng, now)
    decide_histories(drafts, rng, now)
    rows = Rows(threads, drafts, site_ids, rng, first_thread_id=1, first_comment_id=1, hash_key=hash_key)
    log(f"{len(drafts)} comments in {len(threads)} threads drawn ({time.monotonic() - started:.1f}s)")

    writer = Writer(url)
    inserted = 0
    thread_rows = rows.thread_rows()
    thread_columns = tuple(thread_rows[0])
    inserted += writer.insert("threads", thread_columns, (tuple(r.values()) for r in thread_rows))
    comment_columns: tuple[str, ...] = ()

    def comment_tuples():
        nonlocal comment_columns
        for row in rows.comment_rows():
            yield tuple(row.values())

    first = next(rows.comment_rows())
    comment_columns = tuple(first)
    inserted += writer.insert("comments", comment_columns, comment_tuples())
    log(f"comments in ({time.monotonic() - started:.1f}s)")
    events, reports = rows.events_and_reports()
    inserted += writer.insert("audit_events", EVENT_COLUMNS, (row + (iso(at),) for at, row in events))
    if reports:
        inserted += writer.insert("reports", tuple(reports[0]), (tuple(r.values()) for r in reports))
    log(f"{len(events)} audit events, {len(reports)} reports in ({time.monotonic() - started:.1f}s)")
    writer.finish()
    rebuild_figures(url)
    elapsed = time.monotonic() - started
    log(f"loaded {inserted} rows ({total} comments) in {elapsed:.1f}s: {inserted / elapsed:,.0f} rows/s")


# --- the check ------------------------------------------------------------------------------------


def check(url: str, sample: int, seed: int) -> bool:
    """Counters against the rows, and the public API's answers against both, on a sample of threads."""
    app = make_app(url)
    from sqlalchemy import func, select, text

    from comments.extensions import db
    from comments.models import Comment, Site, Thread

    problems: list[str] = []
    with app.app_context():
        # Whole-table checks in SQL: each is one scan.
        wrong_threads = db.session.execute(
            text("""
            SELECT count(*) FROM threads t WHERE t.published_count <>
              (SELECT count(*) FROM comments c WHERE c.thread_id = t.id AND c.status = 'published')""")
        ).scalar_one()
        wrong_replies = db.session.execute(
            text("""
            SELECT count(*) FROM comments p WHERE p.reply_count <>
              (SELECT count(*) FROM comments c WHERE c.parent_id = p.id AND c.status = 'published')""")
        ).scalar_one()
        wrong_reports = db.session.execute(
            text("""
            SELECT count(*) FROM comments c WHERE c.report_count <>
              (SELECT count(*) FROM reports r WHERE r.comment_id = c.id)""")
        ).scalar_one()
        wrong_roots = db.session.execute(
            text("""
            SELECT count(*) FROM comments c JOIN comments p ON p.id = c.parent_id
            WHERE c.thread_id <> p.thread_id OR c.depth <> p.depth + 1 OR c.root_id <> coalesce(p.root_id, p.id)
               OR p.status <> 'published'""")
        ).scalar_one()
        for name, count in (
            ("threads.published_count", wrong_threads),
            ("comments.reply_count", wrong_replies),
            ("comments.report_count", wrong_reports),
            ("parent/root/depth", wrong_roots),
        ):
            if count:
                problems.append(f"{count} rows with a wrong {name}")
        totals = dict(db.session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all())
        all_comments = sum(totals.values())
        replies = db.session.execute(select(func.count()).where(Comment.parent_id.is_not(None))).scalar_one()
        log(
            f"{all_comments} comments: "
            + ", ".join(f"{s} {n / all_comments:.1%}" for s, n in sorted(totals.items()))
            + f"; replies {replies / all_comments:.1%}"
        )
        rng = random.Random(seed)
        thread_ids = list(db.session.execute(select(Thread.id).order_by(Thread.id)).scalars())
        picked = sorted(set(rng.sample(thread_ids, min(sample, len(thread_ids))) + [thread_ids[0]]))
        threads = db.session.execute(
            select(Thread, Site.slug).join(Site, Site.id == Thread.site_id).where(Thread.id.in_(picked))
        ).all()
        db.session.remove()

    client = app.test_client()
    by_site: dict[str, list] = {}
    with app.app_context():
        for thread, slug in threads:
            by_site.setdefault(slug, []).append(thread)
            problems.extend(_check_thread(client, slug, thread))
    for slug, site_threads in by_site.items():
        keys = ",".join(t.key for t in site_threads[:100])
        response = client.get(f"/api/v1/sites/{slug}/counts?keys={keys}")
        if response.status_code != 200:
            problems.append(f"counts on {slug}: {response.status_code} {response.get_data(as_text=True)[:200]}")
            continue
        counts = response.get_json().get("counts", {})
        for thread in site_threads[:100]:
            if counts.get(thread.key) != thread.published_count:
                problems.append(f"counts on {slug}: {thread.key} {counts.get(thread.key)} vs {thread.published_count}")
    for problem in problems[:30]:
        log("PROBLEM " + problem)
    log(f"check: {len(threads)} threads read through the API, {len(problems)} problems")
    return not problems


def _check_thread(client, slug: str, thread) -> list[str]:
    """Every page of the thread through the API: each comment shown is published, reply counts are
    the published replies shown under it, and the pages add up to the thread's published_count."""
    from comments.extensions import db
    from comments.models import Comment

    problems: list[str] = []
    base = f"/api/v1/sites/{slug}/threads/{thread.key}/comments?limit=200"
    cursor, shown, pages = None, 0, 0
    while pages < 500:  # bounded: 500 pages of 200 roots
        response = client.get(base + (f"&cursor={cursor}" if cursor else ""))
        pages += 1
        if response.status_code != 200:
            return [f"{base}: {response.status_code}"]
        data = response.get_json()
        if data["thread"]["comment_count"] != thread.published_count:
            problems.append(f"{base}: comment_count {data['thread']['comment_count']} vs {thread.published_count}")
        stack = list(data["comments"])
        while stack:
            item = stack.pop()
            shown += 1
            replies = item.get("replies") or []
            stack.extend(replies)
            stored = db.session.get(Comment, item["id"])
            if stored is None or stored.status != "published":
                problems.append(f"{base}: comment {item['id']} is shown but not published")
            elif item.get("reply_count", stored.reply_count) != stored.reply_count:
                problems.append(
                    f"{base}: comment {item['id']} reply_count {item.get('reply_count')} vs {stored.reply_count}"
                )
        db.session.remove()
        cursor = data.get("next_cursor")
        if not cursor:
            break
    if not cursor and shown != thread.published_count:
        problems.append(f"{base}: {shown} comments shown over {pages} pages, published_count {thread.published_count}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL (sqlite:///path or postgresql://...)")
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--replace", action="store_true", help="drop what the database holds first")
    parser.add_argument(
        "--check",
        action="store_true",
        help="verify counters through the API (after loading, or alone without --comments)",
    )
    parser.add_argument("--check-sample", type=int, default=40)
    parser.add_argument("--no-load", action="store_true", help="only --check")
    args = parser.parse_args()
    if args.url.startswith("postgresql://"):
        args.url = "postgresql+psycopg://" + args.url[len("postgresql://") :]
    if not args.no_load:
        load(args.url, args.comments, args.seed, args.replace)
    if (args.check or args.no_load) and not check(args.url, args.check_sample, args.seed):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
