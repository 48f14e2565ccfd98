"""Maintenance at scale: privacy erase, ``flask comments purge`` and a rescore dry run on a
database of N comments (10k against 1M), on SQLite or PostgreSQL.

    # a database with the schema from the migrations and N synthetic comments
    python bench/maintenance_scale.py generate sqlite:////tmp/maint1m.db 1000000
    # export and erase one author (~50 comments), the first purge at 90 days, a rescore dry run
    python bench/maintenance_scale.py measure sqlite:////tmp/maint1m.db --author 0
    # the query plans behind them
    python bench/maintenance_scale.py plans sqlite:////tmp/maint1m.db

The data: N/50 threads on two sites with skewed sizes (a few threads hold most comments), 60%
replies (root_id/parent_id/reply_to_id/depth consistent, depth capped at 3), 5% held, 2%
rejected, 1% of those decided by a moderator, every comment with an IP hash, created_at spread
over the last year, N/200 reports, and four authors (``erase0@example.org`` … ``erase3``) with
50 comments each on site 1, some of them with replies (they stay as tombstones). Each
``measure`` erases a different author, so a database serves four runs; the purge changes the
data (run it on a copy for a second "first run").

The rescore dry run uses a stand-in classifier (fixed scores, no model): what is measured is the
database side, paging and deciding, not the model (bench/CLASSIFIER.md has the model's cost).
A dry run that has not finished after ``--rescore-budget`` seconds is stopped and reported as
comments per second so far, with the page query timed at the start and at the end of the range.

While the purge runs, a second connection writes a row every 10 ms (a stand-in for posts) and
the longest wait of those writes is reported: on SQLite, how long the purge held the write lock.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from comments import create_app
from comments.extensions import db
from comments.models import Comment, Report, Site, Status, Thread
from comments.security import hash_email

ERASE_AUTHORS = 4
ERASE_COMMENTS = 50
WORDS = [
    "budget",
    "council",
    "map",
    "report",
    "survey",
    "timeline",
    "reporting",
    "article",
    "numbers",
    "chart",
    "neighbour",
    "pilot",
    "baseline",
    "interview",
    "quote",
    "correction",
    "summary",
    "town",
    "work",
    "local",
]


def make_app(url: str):
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "HASH_KEY": "bench-hash-key",
            "SCORING_MODE": "off",
            "WEBHOOK_DELIVERY": "worker",
            "RATELIMIT_ENABLED": False,
        }
    )
    return app


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def generate(url: str, n: int, seed: int = 7) -> None:
    from flask_migrate import upgrade

    app = make_app(url)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    with app.app_context():
        upgrade()
        sites = [Site(slug=f"site{i}", name=f"Site {i}", allowed_origins=[], settings={}) for i in (1, 2)]
        db.session.add_all(sites)
        db.session.commit()
        thread_count = max(2, n // 50)
        # Skewed sizes: thread i's weight ~ 1/(i+1)^0.9, so the largest hold thousands.
        weights = [1 / (i + 1) ** 0.9 for i in range(thread_count)]
        thread_site = [sites[i % 2].id for i in range(thread_count)]
        db.session.execute(
            Thread.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "site_id": thread_site[i],
                    "key": f"article-{i}",
                    "title": f"Article {i}",
                    "url": "",
                    "closed": False,
                    "published_count": 0,
                    "revision": 0,
                    "created_at": start,
                }
                for i in range(thread_count)
            ],
        )
        db.session.commit()
        threads = rng.choices(range(thread_count), weights=weights, k=n)
        # The structure first (ids are 1..n in creation order), then the rows in chunks.
        thread_comments: dict[int, list[int]] = {}
        parent = [0] * (n + 1)
        root = [0] * (n + 1)
        reply_to = [0] * (n + 1)
        depth = [0] * (n + 1)
        status = [""] * (n + 1)
        for cid in range(1, n + 1):
            t = threads[cid - 1]
            earlier = thread_comments.setdefault(t, [])
            if earlier and rng.random() < 0.6:
                answered = earlier[-1 - min(len(earlier) - 1, int(rng.expovariate(0.05)))]
                reply_to[cid] = answered
                shown_under = answered
                while depth[shown_under] >= 3:
                    shown_under = parent[shown_under]
                parent[cid] = shown_under
                root[cid] = root[shown_under] or shown_under
                depth[cid] = depth[shown_under] + 1
            earlier.append(cid)
            r = rng.random()
            status[cid] = (
                Status.HELD.value if r < 0.05 else Status.REJECTED.value if r < 0.07 else Status.PUBLISHED.value
            )
        site1 = [cid for cid in range(1, n + 1) if thread_site[threads[cid - 1]] == sites[0].id]
        erase_ids = rng.sample(site1, ERASE_AUTHORS * ERASE_COMMENTS)
        erase_author = {cid: i // ERASE_COMMENTS for i, cid in enumerate(erase_ids)}
        erase_hashes = [hash_email(f"erase{i}@example.org") for i in range(ERASE_AUTHORS)]
        replies: dict[int, int] = {}
        for cid in range(1, n + 1):
            if parent[cid] and status[cid] == Status.PUBLISHED.value:
                replies[parent[cid]] = replies.get(parent[cid], 0) + 1
        ips = [_hex(rng) for _ in range(max(10, n // 5))]
        table = Comment.__table__
        chunk = []
        for cid in range(1, n + 1):
            created = start + timedelta(seconds=365 * 86400 * cid / (n + 1) + rng.random())
            ip = rng.choice(ips)
            email = (
                erase_hashes[erase_author[cid]] if cid in erase_author else (_hex(rng) if rng.random() < 0.3 else None)
            )
            words = " ".join(rng.choices(WORDS, k=14))
            decided = created + timedelta(hours=1) if status[cid] != "published" and rng.random() < 0.01 else None
            chunk.append(
                {
                    "id": cid,
                    "site_id": thread_site[threads[cid - 1]],
                    "thread_id": threads[cid - 1] + 1,
                    "parent_id": parent[cid] or None,
                    "root_id": root[cid] or None,
                    "reply_to_id": reply_to[cid] or None,
                    "depth": depth[cid],
                    "author_name": f"Reader {cid % 997}",
                    "author_email_hash": email,
                    "author_key": email or ip,
                    "ip_hash": ip,
                    "body": words,
                    "body_html": f"<p>{words}</p>",
                    "body_fingerprint": hashlib.sha256(words.encode()).hexdigest(),
                    "status": status[cid],
                    "reasons": [],
                    "reason_codes": "",
                    "scores": None,
                    "max_score": None,
                    "model_name": None,
                    "scored_at": None,
                    "needs_scoring": False,
                    "reply_count": replies.get(cid, 0),
                    "report_count": 0,
                    "reported_at": None,
                    "edit_nonce": f"{rng.getrandbits(128):032x}",
                    "version": 1,
                    "created_at": created,
                    "edited_at": None,
                    "decided_at": decided,
                    "updated_at": created,
                    "import_ref": None,
                }
            )
            if len(chunk) == 20000:
                db.session.execute(table.insert(), chunk)
                db.session.commit()
                chunk = []
                print(f"  {cid} comments", file=sys.stderr, flush=True)
        if chunk:
            db.session.execute(table.insert(), chunk)
        reported = rng.sample(range(1, n + 1), max(1, n // 200))
        db.session.execute(
            Report.__table__.insert(),
            [
                {
                    "comment_id": cid,
                    "reason": "spam",
                    "note": "",
                    "reporter_hash": _hex(rng),
                    "created_at": start + timedelta(seconds=365 * 86400 * cid / (n + 1) + 60),
                }
                for cid in reported
            ],
        )
        counts: dict[int, int] = {}
        for cid in range(1, n + 1):
            if status[cid] == Status.PUBLISHED.value:
                counts[threads[cid - 1] + 1] = counts.get(threads[cid - 1] + 1, 0) + 1
        db.session.execute(
            Thread.__table__.update()
            .where(Thread.__table__.c.id == db.bindparam("tid"))
            .values(published_count=db.bindparam("count")),
            [{"tid": t, "count": c} for t, c in counts.items()],
        )
        if db.engine.dialect.name == "postgresql":
            for name in ("comments", "threads", "reports"):
                db.session.execute(text(f"SELECT setval('{name}_id_seq', (SELECT max(id) FROM {name}))"))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()


class _Writer(threading.Thread):
    """A post's stand-in: one small write every 10 ms on its own connection; the longest wait."""

    def __init__(self, engine):
        super().__init__(daemon=True)
        self.engine = engine
        self.stop = threading.Event()
        self.waits: list[float] = []
        self.failed = 0

    def run(self) -> None:
        with self.engine.connect() as conn:
            key = "SERIAL PRIMARY KEY" if conn.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
            conn.execute(text("DROP TABLE IF EXISTS bench_writes"))
            conn.execute(text(f"CREATE TABLE bench_writes (id {key}, at TEXT)"))
            conn.commit()
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    conn.execute(text("INSERT INTO bench_writes (at) VALUES (:at)"), {"at": str(time.time())})
                    conn.commit()
                except OperationalError:  # SQLite's busy timeout (10 s) ran out: a post would fail
                    conn.rollback()
                    self.failed += 1
                self.waits.append(time.perf_counter() - started)
                time.sleep(0.01)


class _StandIn:
    """Fixed scores for every text: the dry run's database side without a model."""

    name = "stand-in"
    version = "1"

    def __init__(self, budget: float):
        self.deadline = time.perf_counter() + budget
        self.texts = 0

    def score(self, texts):
        if time.perf_counter() > self.deadline:
            raise TimeoutError
        self.texts += len(texts)
        return [{"toxicity": 0.01, "insult": 0.01} for _ in texts]


def rescore_page_query(site_id: int, last_id: int):
    """The page the dry run reads after ``last_id`` (the statement ``scoring.rescore`` builds)."""
    from sqlalchemy import select

    return (
        select(Comment.id)
        .where(
            Comment.id > last_id,
            Comment.status.in_([Status.PUBLISHED.value, Status.HELD.value, Status.REJECTED.value]),
            Comment.decided_at.is_(None),
            Comment.site_id == site_id,
        )
        .order_by(Comment.id)
        .limit(32)
    )


def measure(url: str, author: int, rescore_budget: float, skip: set[str]) -> dict:
    from comments.services import privacy
    from comments.services.audit import Actor
    from comments.services.scoring import rescore

    app = make_app(url)
    out: dict = {"url": url.split("@")[-1]}
    with app.app_context():
        out["comments"] = db.session.scalar(text("SELECT count(*) FROM comments"))
        site = db.session.scalar(db.select(Site).where(Site.slug == "site1"))
        if "erase" not in skip:
            started = time.perf_counter()
            page = privacy.export_author(
                site, f"erase{author}@example.org", limit=100, cursor=None, actor=Actor("host", "bench")
            )
            out["export"] = {"comments": len(page.items), "ms": round((time.perf_counter() - started) * 1000, 1)}
            started = time.perf_counter()
            result = privacy.erase_author(site, f"erase{author}@example.org", Actor("host", "bench"))
            seconds = time.perf_counter() - started
            out["erase"] = {
                "erased": result.erased,
                "removed": result.removed,
                "tombstoned": result.tombstoned,
                "ms": round(seconds * 1000, 1),
                "ms_per_comment": round(seconds * 1000 / max(1, result.erased), 2),
            }
            print(json.dumps(out["erase"]), file=sys.stderr, flush=True)
        if "purge" not in skip:
            writer = _Writer(db.engine)
            writer.start()
            time.sleep(0.2)
            started = time.perf_counter()
            cli = app.test_cli_runner().invoke(args=["comments", "purge", "--ip-older-than", "90"])
            seconds = time.perf_counter() - started
            writer.stop.set()
            writer.join()
            out["purge"] = {
                "seconds": round(seconds, 2),
                "output": cli.output.strip().splitlines(),
                "longest_write_wait_ms": round(max(writer.waits, default=float("nan")) * 1000, 1),
                "writes": len(writer.waits),
                "writes_failed": writer.failed,
            }
            if cli.exception:
                out["purge"]["error"] = repr(cli.exception)
            print(json.dumps(out["purge"]), file=sys.stderr, flush=True)
        if "rescore" not in skip:
            ids = db.session.execute(
                text("SELECT min(id), max(id) FROM comments WHERE site_id = :s"), {"s": site.id}
            ).one()
            timings = {}
            for label, last_id in (("start", 0), ("middle", (ids[0] + ids[1]) // 2), ("end", ids[1] - 500)):
                runs = []
                for _ in range(5):
                    started = time.perf_counter()
                    db.session.execute(rescore_page_query(site.id, last_id)).all()
                    runs.append(time.perf_counter() - started)
                timings[label] = round(statistics.median(runs) * 1000, 2)
            db.session.rollback()
            classifier = _StandIn(rescore_budget)
            started = time.perf_counter()
            finished = True
            try:
                result = rescore(classifier, site_id=site.id, apply=False)
                examined = result.examined
            except TimeoutError:
                finished = False
                examined = classifier.texts
                db.session.rollback()
            seconds = time.perf_counter() - started
            out["rescore_dry_run"] = {
                "finished": finished,
                "examined": examined,
                "seconds": round(seconds, 2),
                "comments_per_second": round(examined / seconds),
                "page_query_ms": timings,
            }
            print(json.dumps(out["rescore_dry_run"]), file=sys.stderr, flush=True)
    return out


PLANS = {
    "export: an author's comments": "SELECT id FROM comments WHERE site_id = 1 AND author_email_hash = 'x' "
    "ORDER BY created_at, id LIMIT 101",
    "erase: a deleted comment's replies-to (FK ON DELETE SET NULL)": "SELECT id FROM comments WHERE reply_to_id = 5",
    "erase: a deleted comment's children (FK ON DELETE CASCADE)": "SELECT id FROM comments WHERE parent_id = 5",
    "purge: old IP hashes": "SELECT id FROM comments WHERE created_at < '2026-09-01' AND ip_hash IS NOT NULL "
    "ORDER BY created_at, id LIMIT 2000",
    "rescore: a page": "SELECT id FROM comments WHERE id > 400000 AND status IN ('published', 'held', 'rejected') "
    "AND decided_at IS NULL AND site_id = 1 ORDER BY id LIMIT 32",
}


def plans(url: str) -> None:
    app = make_app(url)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        for label, sql in PLANS.items():
            print(f"-- {label}\n{sql}")
            explain = "EXPLAIN (ANALYZE, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
            for row in db.session.execute(text(explain + sql)):
                print("   ", row[-1])
        if postgres:
            # The FK triggers a DELETE fires, with their time (rolled back).
            victim = db.session.scalar(
                text(
                    "SELECT id FROM comments c WHERE NOT EXISTS "
                    "(SELECT 1 FROM comments r WHERE r.parent_id = c.id) "
                    "AND NOT EXISTS (SELECT 1 FROM reports p WHERE p.comment_id = c.id) "
                    "ORDER BY id DESC LIMIT 1"
                )
            )
            print(f"-- erase: DELETE one comment ({victim}), rolled back")
            delete = f"EXPLAIN (ANALYZE, COSTS OFF) DELETE FROM comments WHERE id = {victim}"
            for row in db.session.execute(text(delete)):
                print("   ", row[0])
            db.session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("url")
    gen.add_argument("n", type=int)
    mes = sub.add_parser("measure")
    mes.add_argument("url")
    mes.add_argument("--author", type=int, default=0, choices=range(ERASE_AUTHORS))
    mes.add_argument("--rescore-budget", type=float, default=120.0)
    mes.add_argument("--skip", action="append", default=[], choices=["erase", "purge", "rescore"])
    pln = sub.add_parser("plans")
    pln.add_argument("url")
    args = parser.parse_args()
    if args.command == "generate":
        started = time.perf_counter()
        generate(args.url, args.n)
        print(f"generated {args.n} comments in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    elif args.command == "measure":
        print(json.dumps(measure(args.url, args.author, args.rescore_budget, set(args.skip)), indent=1))
    else:
        plans(args.url)


if __name__ == "__main__":
    main()
