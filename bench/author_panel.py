#!/usr/bin/env python3
"""The author panel of a prolific author: first page of their comments and their summary.

    .venv/bin/python bench/author_panel.py                                   # SQLite under bench/.work/author_panel/
    .venv/bin/python bench/author_panel.py --database-url postgresql://postgres@127.0.0.1:5432/DB  # drops DB's tables
    .venv/bin/python bench/author_panel.py --runs 50 --others 200000 --author-comments 10000
    .venv/bin/python bench/author_panel.py --reuse --covering-index   # the last database, plus the index proposed
    .venv/bin/python bench/author_panel.py --repo ../other-checkout   # another checkout's code

Builds a database (written straight into the tables, as the service would have written the rows)
with one site, 2,000 threads, 20,000 other authors with ``--others`` comments between them, and one
signed-in author (SSO, a badge, three names in their history) with ``--author-comments``
comments spread over the same year and threads, interleaved with the others' (ids in time order).
Statuses: 90% published, 5% held, 3% rejected, 2% deleted; 2% of comments reported (1-4 reports).
Then ANALYZE.

Then, in one process with the test client, reads the author panel's first page ``--runs`` times:
``GET /api/v1/moderation/authors/{id}`` with a moderator's bearer token when the route exists,
otherwise what that endpoint is to call (``readers.summary`` and ``readers.comments_page`` with
``--limit``, 25 by default as the endpoint's, each comment dumped with the moderation API's ``ModeratorCommentSchema`` plus its thread), each run in a fresh
session. Prints the median and 95th percentile of the wall time and the process CPU time (on
PostgreSQL the server's share of the work is in the wall time only), and the page's size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "author_panel"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))
import seed_data  # noqa: E402

THREADS = 2000
OTHER_AUTHORS = 20000
MODERATOR = ("bench-mod@example.org", "bench-password-123")


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def make_app(database_url: str):
    for key in [k for k in os.environ if k.startswith("COMMENTS_")]:
        del os.environ[key]
    from comments import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "SCORING_MODE": "off",
            "RATELIMIT_ENABLED": False,
        }
    )


def reset(database_url: str) -> str:
    if database_url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
        return database_url
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "panel.db"
    path.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def build(app, args: argparse.Namespace) -> int:
    """The data; returns the prolific author's id."""
    import hashlib

    from flask_migrate import upgrade
    from sqlalchemy import text

    from comments.extensions import db
    from comments.models import Author, AuthorName, Comment, Thread
    from comments.security import keyed_hash
    from comments.services import sites

    rng = random.Random(15)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    bodies = [item["body"] for item in seed_data.thread(seed=3, roots=500, replies_per_root=0)]
    with app.app_context():
        upgrade()
        site, _ = sites.create_site("news", ["https://news.example"])
        db.session.commit()
        db.session.execute(
            Thread.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "site_id": site.id,
                    "key": f"article-{i}",
                    "title": f"Article {i}",
                    "url": "",
                    "closed": False,
                    "published_count": 0,
                    "revision": 0,
                    "created_at": start,
                }
                for i in range(THREADS)
            ],
        )
        authors = []
        for i in range(OTHER_AUTHORS):
            key = keyed_hash("email", f"reader{i}@example.org")
            authors.append(
                {
                    "id": i + 1,
                    "site_id": site.id,
                    "author_key": key,
                    "sso_user_id": None,
                    "name": f"Reader {i}",
                    "badges": [],
                    "verified": False,
                    "email_hash": key,
                    "url": "",
                    "role": "",
                    "status": "active",
                    "status_reason": "",
                    "first_seen_at": start,
                    "last_seen_at": now,
                }
            )
        target_id = OTHER_AUTHORS + 1
        target_key = keyed_hash("sso-user", f"{site.id}:prolific-1")
        authors.append(
            {
                "id": target_id,
                "site_id": site.id,
                "author_key": target_key,
                "sso_user_id": "prolific-1",
                "name": "Prolific Reader",
                "badges": ["Subscriber"],
                "verified": True,
                "email_hash": keyed_hash("email", "prolific@example.org"),
                "url": "https://news.example/u/prolific",
                "role": "",
                "status": "active",
                "status_reason": "",
                "first_seen_at": start,
                "last_seen_at": now,
            }
        )
        db.session.execute(Author.__table__.insert(), authors)
        db.session.execute(
            AuthorName.__table__.insert(),
            [
                {"author_id": target_id, "name": name, "first_used_at": start + timedelta(days=d), "last_used_at": now}
                for d, name in ((0, "prolific"), (100, "P. Reader"), (200, "Prolific Reader"))
            ],
        )
        total = args.others + args.author_comments
        mine = set(rng.sample(range(1, total + 1), args.author_comments))
        table = Comment.__table__
        chunk: list[dict] = []
        for cid in range(1, total + 1):
            created = start + timedelta(seconds=365 * 86400 * cid / (total + 1))
            r = rng.random()
            status = "held" if r < 0.05 else "rejected" if r < 0.08 else "deleted" if r < 0.10 else "published"
            if cid in mine:
                author_id, key, name, badges, verified = target_id, target_key, "Prolific Reader", ["Subscriber"], True
            else:
                author_id = rng.randint(1, OTHER_AUTHORS)
                key, name, badges, verified = authors[author_id - 1]["author_key"], f"Reader {author_id - 1}", [], False
            body = bodies[cid % len(bodies)]
            reports = rng.randint(1, 4) if rng.random() < 0.02 else 0
            chunk.append(
                {
                    "id": cid,
                    "site_id": site.id,
                    "thread_id": rng.randint(1, THREADS),
                    "parent_id": None,
                    "root_id": None,
                    "reply_to_id": None,
                    "depth": 0,
                    "author_name": name,
                    "author_email_hash": None,
                    "author_key": key,
                    "author_id": author_id,
                    "author_badges": badges,
                    "author_verified": verified,
                    "ip_hash": None,
                    "body": body,
                    "body_html": f"<p>{body}</p>",
                    "body_fingerprint": hashlib.sha256(body.encode()).hexdigest(),
                    "status": status,
                    "reasons": [],
                    "reason_codes": "",
                    "scores": None,
                    "max_score": None,
                    "model_name": None,
                    "scored_at": None,
                    "needs_scoring": False,
                    "reply_count": 0,
                    "report_count": reports,
                    "reported_at": created + timedelta(hours=1) if reports >= 3 else None,
                    "edit_nonce": f"{rng.getrandbits(128):032x}",
                    "version": 1,
                    "created_at": created,
                    "edited_at": None,
                    "decided_at": created if status != "published" else None,
                    "updated_at": created,
                    "import_ref": None,
                }
            )
            if len(chunk) == 20000:
                db.session.execute(table.insert(), chunk)
                db.session.commit()
                chunk = []
                log(f"  {cid:,} comments")
        if chunk:
            db.session.execute(table.insert(), chunk)
        if db.engine.dialect.name == "postgresql":
            for name in ("comments", "threads", "authors", "author_names"):
                db.session.execute(text(f"SELECT setval('{name}_id_seq', (SELECT max(id) FROM {name}))"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return target_id


def existing_author(app) -> int:
    from sqlalchemy import select

    from comments.extensions import db
    from comments.models import Author

    with app.app_context():
        return db.session.scalars(select(Author.id).where(Author.sso_user_id == "prolific-1")).one()


COVERING_INDEX = "ix_bench_author_status_reports"


def tune(app, covering_index: bool) -> None:
    """VACUUM (PostgreSQL's index-only scans need the visibility map a fresh load lacks, which
    autovacuum sets in time) and, with --covering-index, the index proposed for the summary:
    (author_id, status, report_count), so that the reports received are summed from the index."""
    from sqlalchemy import text

    from comments.extensions import db

    with app.app_context():
        if covering_index:
            log(f"adding {COVERING_INDEX} (author_id, status, report_count)")
            db.session.execute(
                text(f"CREATE INDEX IF NOT EXISTS {COVERING_INDEX} ON comments (author_id, status, report_count)")
            )
            db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM" if db.engine.dialect.name == "sqlite" else "VACUUM ANALYZE comments")
            conn.exec_driver_sql("ANALYZE")


def moderator_token(app) -> str:
    from comments.extensions import db
    from comments.services import accounts

    with app.app_context():
        accounts.create_moderator(*MODERATOR)
        db.session.commit()
    resp = app.test_client().post("/api/v1/auth/token", json={"email": MODERATOR[0], "password": MODERATOR[1]})
    if resp.status_code != 200:
        raise RuntimeError(f"token: {resp.status_code} {resp.get_data(as_text=True)}")
    return resp.get_json()["token"]


def has_route(app) -> bool:
    return any(rule.rule.startswith("/api/v1/moderation/authors/") for rule in app.url_map.iter_rules())


def read_http(app, token: str, author_id: int, limit: int):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def once() -> tuple[int, int]:
        resp = client.get(f"/api/v1/moderation/authors/{author_id}?limit={limit}", headers=headers)
        if resp.status_code != 200:
            raise RuntimeError(f"{resp.status_code} {resp.get_data(as_text=True)[:500]}")
        body = resp.get_data()
        doc = json.loads(body)
        return len(body), len(doc.get("comments", doc.get("items", [])))

    return once


def read_services(app, author_id: int, limit: int):
    """What the endpoint is to do, until it is there: the summary and the first page as JSON."""
    import orjson
    from sqlalchemy import select

    from comments.api.schemas import ModeratorCommentSchema
    from comments.extensions import db
    from comments.models import Thread
    from comments.services import readers, threads

    schema = ModeratorCommentSchema(many=True)

    def once() -> tuple[int, int]:
        with app.app_context():
            author = readers.get_author(str(author_id))
            summary = readers.summary(author)
            comments, cursor = readers.comments_page(author, limit, None)
            ids = {c.thread_id for c in comments}
            found = {t.id: t for t in db.session.scalars(select(Thread).where(Thread.id.in_(ids)))}
            doc = {
                "author": {
                    "id": readers.public_id(author),
                    "name": author.name,
                    "badges": author.badges,
                    "verified": author.verified,
                    "status": author.status,
                    "first_seen_at": threads.rfc3339(author.first_seen_at),
                    "counts": summary.counts,
                    "reports_received": summary.reports_received,
                    "names": [{"name": n.name, "last_used_at": threads.rfc3339(n.last_used_at)} for n in summary.names],
                },
                # The moderation API's comment shape, and each comment's article (the page's
                # threads in one query: an author's page spans many).
                "comments": [
                    {**dumped, "thread": {"key": found[c.thread_id].key, "title": found[c.thread_id].title}}
                    for c, dumped in zip(comments, schema.dump(comments), strict=True)
                ],
                "next_cursor": cursor,
            }
            body = orjson.dumps(doc)
            db.session.remove()
        return len(body), len(comments)

    return once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="postgresql://... (its tables are dropped)")
    parser.add_argument("--others", type=int, default=200_000, help="comments by other authors")
    parser.add_argument("--author-comments", type=int, default=10_000, help="the prolific author's comments")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--limit", type=int, default=25, help="comments per page (the API's default: 25)")
    parser.add_argument("--services", action="store_true", help="call the services even when the route exists")
    parser.add_argument("--repo", type=Path, default=None, help="measure another checkout's code")
    parser.add_argument("--reuse", action="store_true", help="measure the database built by an earlier run")
    parser.add_argument("--vacuum", action="store_true", help="VACUUM (and ANALYZE) before measuring")
    parser.add_argument(
        "--covering-index", action="store_true", help="add (author_id, status, report_count) first (implies --vacuum)"
    )
    args = parser.parse_args()
    if args.repo is not None:
        sys.path.insert(0, str(args.repo.resolve()))  # another checkout's code, on the same kind of data
    if not (1 <= args.runs <= 1000 and 0 <= args.others <= 5_000_000 and 1 <= args.author_comments <= 1_000_000):
        parser.error("keep --runs 1-1000, --others up to 5M, --author-comments 1-1M")
    if args.reuse:
        url = args.database_url or f"sqlite:///{WORK / 'panel.db'}"
        app = make_app(url)
        author_id = existing_author(app)
    else:
        url = reset(args.database_url or "sqlite")
        app = make_app(url)
        log(f"building: {args.others:,} comments by {OTHER_AUTHORS:,} others, {args.author_comments:,} by one author")
        started = time.monotonic()
        author_id = build(app, args)
        log(f"built in {time.monotonic() - started:.0f} s")
    if args.vacuum or args.covering_index:
        tune(app, args.covering_index)
    via_http = has_route(app) and not args.services
    if via_http and args.reuse:
        with app.app_context():
            from sqlalchemy import delete

            from comments.extensions import db
            from comments.models import Moderator

            db.session.execute(delete(Moderator))  # the run that built it made one
            db.session.commit()
    once = (
        read_http(app, moderator_token(app), author_id, args.limit)
        if via_http
        else read_services(app, author_id, args.limit)
    )
    for _ in range(3):
        once()
    walls, cpus = [], []
    size = count = 0
    for _ in range(args.runs):
        w0, c0 = time.perf_counter(), time.process_time()
        size, count = once()
        walls.append((time.perf_counter() - w0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20, method="inclusive")[-1]

    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    engine += " + VACUUM" if args.vacuum or args.covering_index else ""
    engine += f" + {COVERING_INDEX}" if args.covering_index else ""
    what = "GET /api/v1/moderation/authors/{id}" if via_http else "readers.summary + comments_page + JSON"
    print(
        f"\n{engine}, {what}, limit {args.limit}: {args.runs} runs, {count} comments, {size:,} bytes\n"
        f"  wall median {statistics.median(walls):.1f} ms, p95 {p95(walls):.1f} ms, max {max(walls):.1f} ms\n"
        f"  CPU  median {statistics.median(cpus):.1f} ms, p95 {p95(cpus):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
