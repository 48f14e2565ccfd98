#!/usr/bin/env python3
"""Where our read and post paths spend their time: one process, ``create_app()`` + test client.

    .venv/bin/python bench/profile_read.py [--reads 50] [--posts 300] [--top 30]

Seeds a fresh SQLite database under bench/.work/profile/ with the same 1,000-comment thread as
bench/run_read_post.py (through the API, with the test client; no classifier, rate limits off),
then times, without a profiler and then under cProfile:

- the full-thread read ``GET /api/v1/sites/bench/threads/article-1/comments?limit=200`` as served
  (from the per-process page cache after the first), and with the page cache emptied before
  every read (the page built from the database, as after every change to the thread);
- the 304 answer to the same read with If-None-Match;
- posting new root comments (distinct bodies) to another thread.

Prints the timings, a split of the uncached read into its stages, and the top functions by own
time and by cumulative time for the uncached read and for posting.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))
import seed_data  # noqa: E402

WORK = BENCH / ".work" / "profile"
PATH = "/api/v1/sites/bench/threads/article-1/comments"


def build_app():
    for key in [k for k in os.environ if k.startswith("COMMENTS_")]:
        del os.environ[key]
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    from flask_migrate import upgrade

    from comments import create_app
    from comments.extensions import db
    from comments.services import sites

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{WORK / 'comments.db'}",
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SCORING_MODE": "off",
        }
    )
    with app.app_context():
        upgrade()
        sites.create_site("bench", ["http://127.0.0.1:9"])
        db.session.commit()
    return app


def seed(client) -> None:
    ids: list[int] = []
    for item in seed_data.thread(seed=1, roots=200, replies_per_root=4):
        payload = {"body": item["body"], "author_name": item["author"]}
        if item["parent"] is not None:
            payload["parent_id"] = ids[item["parent"]]
        resp = client.post(PATH, json=payload)
        assert resp.status_code == 201, (resp.status_code, resp.data[:300])
        ids.append(resp.get_json()["comment"]["id"])


def stages(app, reads: int) -> dict[str, float]:
    """Median milliseconds of each stage of the read, called directly inside a request context."""
    import orjson

    from comments.extensions import db
    from comments.services import sites, threads

    out: dict[str, list[float]] = {
        k: [] for k in ("find_site_and_thread", "query_roots_and_replies", "build_tree", "orjson_dumps")
    }
    with app.test_request_context(PATH + "?limit=200"):
        for _ in range(reads):
            db.session.remove()
            t0 = time.perf_counter()
            site = sites.get_site("bench")
            thread = threads.find_thread(site, "article-1")
            t1 = time.perf_counter()
            roots = db.session.execute(threads._roots_query(thread.id, "oldest", 200, None)).all()
            from sqlalchemy import select

            from comments.models import Comment

            replies = db.session.execute(
                select(*threads._COLUMNS)
                .where(Comment.root_id.in_([r.id for r in roots]), Comment.status.in_(threads.VISIBLE))
                .order_by(Comment.created_at, Comment.id)
            ).all()
            t2 = time.perf_counter()
            page = threads.read_page(site, "article-1", thread, "oldest", 200, None)  # queries again
            t3 = time.perf_counter()
            body = orjson.dumps(page.as_json())
            t4 = time.perf_counter()
            assert len(roots) == 200 and len(replies) == 800 and body
            out["find_site_and_thread"].append(t1 - t0)
            out["query_roots_and_replies"].append(t2 - t1)
            # read_page = the two queries + the tree; the tree alone is the difference
            out["build_tree"].append((t3 - t2) - (t2 - t1))
            out["orjson_dumps"].append(t4 - t3)
    return {k: statistics.median(v) * 1000 for k, v in out.items()}


def timed(fn, count: int) -> list[float]:
    out = []
    for _ in range(count):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def profile(fn, count: int, top: int, title: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        fn()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n=== cProfile: {title}, {count} times, by {order} ===")
        print("\n".join(line for line in buf.getvalue().splitlines() if line.strip()))


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.2f} ms (min {min(values) * 1000:.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    reads = max(1, min(args.reads, 1000))
    posts = max(1, min(args.posts, 5000))

    app = build_app()
    client = app.test_client()
    t = time.perf_counter()
    seed(client)
    print(f"seeded 1,000 comments through the test client in {time.perf_counter() - t:.1f} s")
    cache = app.extensions.get("comments.page_cache")
    print(f"page cache: {'on' if cache is not None else 'off (not configured)'}")

    url = PATH + "?limit=200"

    def read() -> None:
        resp = client.get(url)
        assert resp.status_code == 200 and len(resp.data) > 500_000

    def read_uncached() -> None:
        if cache is not None:
            cache.clear()
        read()

    etag = client.get(url).headers["ETag"]

    def read_304() -> None:
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    bodies = iter(
        [
            {"body": item["body"] + f"\n\nPost {n}.", "author_name": f"Poster {n}"}
            for n, item in enumerate(seed_data.thread(seed=2, roots=3 * posts + 20, replies_per_root=0))
        ]
    )

    def post() -> None:
        resp = client.post("/api/v1/sites/bench/threads/article-3/comments", json=next(bodies))
        assert resp.status_code == 201, (resp.status_code, resp.data[:300])

    for _ in range(5):  # warm up
        read_uncached()
        read()
        post()
    cached, uncached, r304 = timed(read, reads), timed(read_uncached, reads), timed(read_304, reads)
    posted = timed(post, posts)
    size = len(client.get(url).data)
    print(f"full read ({size:,} bytes), as served (page cache): {ms(cached)}")
    print(f"full read, page cache emptied first:          {ms(uncached)}")
    print(f"304 revalidation:                             {ms(r304)}")
    print(f"post a root comment:                          {ms(posted)}")

    print("\nstages of an uncached read (median ms, called directly, no profiler):")
    for name, value in stages(app, reads).items():
        print(f"  {name:28s} {value:7.2f}")

    profile(read_uncached, reads, args.top, "full read, page cache emptied first")
    profile(post, min(posts, 200), args.top, "post a root comment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
