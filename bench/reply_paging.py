#!/usr/bin/env python3
"""What the first page of a thread costs when one of its roots has ~5,000 replies, against one of 50.

    .venv/bin/python bench/reply_paging.py [--repo DIR] [--database-url URL] [--reads 30]

Builds a database (SQLite under bench/.work/reply_paging/ unless --database-url names a
PostgreSQL database, whose tables are dropped first) with two threads of 50 roots each, written
straight into the tables (published, counters set as the service keeps them):

- ``big``: the first root has 5,000 replies: 2,500 direct, the others under earlier replies,
  nested at most 5 levels deep; the other 49 roots have 4 replies each;
- ``small``: the same, but the first root has 50 replies;

plus 20,000 comments in 200 other threads, so the database is not just the two threads. Bodies
are seed_data's Markdown (50-800 characters), the HTML a paragraph of the same text. Then ANALYZE.

Then, in one process with the test client, times the first page (limit 50) of each thread, sorts
oldest and top, with the page cache emptied before every read (the page built from the database,
as after every change to the thread): the median and 90th percentile of ``--reads`` reads, the
median CPU time of this process (the whole read on SQLite; on PostgreSQL the server's share is
not in it), and the page's bytes and comments. With reply paging also the first replies page of the big root.

``--repo`` runs another checkout of the code (e.g. ``git archive <commit> | tar -x -C DIR``) on
the same data: that is how the "before" numbers in bench/README.md were taken.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "reply_paging"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=BENCH.parent, help="the code to measure")
    parser.add_argument("--database-url", default=None, help="postgresql://... (its tables are dropped)")
    parser.add_argument("--reads", type=int, default=30)
    return parser.parse_args()


def build_app(repo: Path, database_url: str | None):
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(repo))
    for key in [k for k in os.environ if k.startswith("COMMENTS_")]:
        del os.environ[key]
    if database_url:
        import sqlalchemy

        engine = sqlalchemy.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("DROP SCHEMA public CASCADE"))
            conn.execute(sqlalchemy.text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        if WORK.exists():
            shutil.rmtree(WORK)
        WORK.mkdir(parents=True)
        database_url = f"sqlite:///{WORK / 'comments.db'}"
    from flask_migrate import upgrade

    from comments import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "HASH_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SCORING_MODE": "off",
            "WEBHOOK_DELIVERY": "worker",
        }
    )
    with app.app_context():
        upgrade()
    return app


def seed(app) -> dict[str, int]:
    import seed_data
    from sqlalchemy import insert, text, update

    from comments.extensions import db
    from comments.models import Comment, Thread
    from comments.services import sites

    rng = random.Random(7)
    bodies = [seed_data.body(rng) for _ in range(500)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        site, _ = sites.create_site("bench", ["http://127.0.0.1:9"])
        db.session.flush()
        next_id = 1
        big_roots: dict[str, int] = {}

        def thread(key: str, roots: list[int]) -> None:
            nonlocal next_id
            row = Thread(site_id=site.id, key=key, title=key, url="")
            db.session.add(row)
            db.session.flush()
            rows, moment = [], start
            for root_index, replies in enumerate(roots):
                root_id = next_id
                if root_index == 0:
                    big_roots[key] = root_id
                placed = [(root_id, 0)]  # (id, depth)
                reply_counts = {root_id: 0}
                for n in range(replies + 1):
                    moment += timedelta(seconds=1)
                    if n == 0:
                        parent, depth = None, 0
                    elif n <= replies // 2 or len(placed) == 1:
                        parent, depth = root_id, 1
                    else:
                        parent, parent_depth = placed[rng.randrange(1, len(placed))]
                        if parent_depth >= 5:
                            parent, parent_depth = root_id, 0
                        depth = parent_depth + 1
                    text = bodies[(next_id * 7) % len(bodies)]
                    rows.append(
                        {
                            "id": next_id,
                            "site_id": site.id,
                            "thread_id": row.id,
                            "parent_id": parent,
                            "root_id": None if parent is None else root_id,
                            "depth": depth,
                            "author_name": f"Reader {next_id % 997}",
                            "author_key": f"k{next_id % 997}",
                            "body": text,
                            "body_html": f"<p>{text}</p>",
                            "body_fingerprint": f"f{next_id}",
                            "status": "published",
                            "reasons": [],
                            "reason_codes": "",
                            "reply_count": 0,
                            "edit_nonce": "n",
                            "created_at": moment,
                            "updated_at": moment,
                        }
                    )
                    if parent is not None:
                        reply_counts[parent] = reply_counts.get(parent, 0) + 1
                        placed.append((next_id, depth))
                    next_id += 1
                for item in rows[-(replies + 1) :]:
                    item["reply_count"] = reply_counts.get(item["id"], 0)
            for chunk in range(0, len(rows), 2000):
                db.session.execute(insert(Comment.__table__), rows[chunk : chunk + 2000])
            db.session.execute(update(Thread).where(Thread.id == row.id).values(published_count=len(rows)))

        thread("big", [5000] + [4] * 49)
        thread("small", [50] + [4] * 49)
        for n in range(200):
            thread(f"other-{n}", [4] * 20)
        db.session.commit()
        # Statistics, as a live database has them (PostgreSQL's autovacuum would gather them in a
        # while): without them PostgreSQL picks ix_comments_needs_scoring for the status filter.
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        return big_roots


def measure(app, reads: int, big_root: int) -> list[tuple[str, float, float, float, int, int]]:
    client = app.test_client()
    cache = app.extensions["comments.page_cache"]
    results = []

    def run(label: str, url: str) -> None:
        times, cpu = [], []
        for _ in range(reads + 3):
            cache.clear()
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
        assert response.status_code == 200, (url, response.status_code, response.data[:300])
        times = sorted(times[3:])  # the first reads warm SQLAlchemy's statement cache
        cpu = sorted(cpu[3:])

        def count(nodes):
            return sum(1 + count(n.get("replies", [])) for n in nodes)

        results.append(
            (
                label,
                statistics.median(times) * 1000,
                times[int(len(times) * 0.9) - 1] * 1000,
                statistics.median(cpu) * 1000,
                len(response.data),
                count(response.json["comments"]),
            )
        )

    for key in ("big", "small"):
        for sort in ("oldest", "top"):
            run(f"{key} {sort}", f"/api/v1/sites/bench/threads/{key}/comments?limit=50&sort={sort}")
    if app.url_map.bind("x").test(f"/api/v1/comments/{big_root}/replies"):
        run("big root's replies, first page", f"/api/v1/comments/{big_root}/replies")
    return results


def main() -> None:
    args = parse_args()
    app = build_app(args.repo.resolve(), args.database_url)
    big_roots = seed(app)
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{engine}, code at {args.repo}, {args.reads} uncached reads each")
    print(f"{'first page (limit 50)':<32} {'median ms':>10} {'p90 ms':>8} {'CPU ms':>7} {'bytes':>10} {'comments':>9}")
    for label, median, p90, cpu, size, comments in measure(app, args.reads, big_roots["big"]):
        print(f"{label:<32} {median:>10.1f} {p90:>8.1f} {cpu:>7.1f} {size:>10,} {comments:>9,}")


if __name__ == "__main__":
    main()
