#!/usr/bin/env python3
"""Thread reads and posting: this checkout against an earlier commit, side by side in one run.

    .venv/bin/python bench/before_after.py --base bbe7f81            # SQLite (about 5 minutes)
    .venv/bin/python bench/before_after.py --base bbe7f81 --postgres # plus both on PostgreSQL

A refactoring must not make the service slower: this starts the service twice from the same
virtualenv (``gunicorn -w 2``, rate limits and scoring off, as in bench/run_read_post.py), once from
a worktree of ``--base`` (made under bench/.work/, detached) and once from this checkout, seeds
both with the same 1,000-comment thread through the API, then measures with wrk, alternating
between the two, ``--rounds`` times: full-thread reads (page cache on), reads with the page cache
off, and posting. The table gives requests per second, latency and server CPU per request, and
the ratio this checkout / base. Uses run_read_post.py's servers, seeding and measurement.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run_read_post as rrp  # noqa: E402
import seed_data  # noqa: E402

PG_DATABASES = {"base": "bench_base", "head": "bench_head"}


def base_checkout(rev: str) -> Path:
    sha = rrp.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=rrp.REPO).stdout.strip()
    path = rrp.WORK / f"base-{sha[:12]}"
    if not path.exists():
        rrp.log(f"worktree of {sha[:12]} at {path}")
        rrp.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=rrp.REPO, timeout=120)
    return path


def env_for(checkout: Path, database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    # PYTHONPATH first: the virtualenv's editable install points at the main checkout.
    return {**rrp.our_env(database_url), "PYTHONPATH": str(checkout), **(extra or {})}


def prepare(checkout: Path, database_url: str) -> None:
    flask = str(rrp.OUR_VENV / "bin" / "flask")
    env = env_for(checkout, database_url)
    for cmd in (
        [flask, "--app", "wsgi", "db", "upgrade"],
        [flask, "--app", "wsgi", "comments", "create-site", rrp.SITE, "--origin", "http://127.0.0.1:9"],
    ):
        rrp.run(cmd, env=env, cwd=checkout, timeout=180)


def server(label: str, checkout: Path, database_url: str, extra: dict[str, str] | None = None) -> rrp.Server:
    port = rrp.free_port()
    cmd = [str(rrp.OUR_VENV / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    return rrp.Server(label, cmd, env_for(checkout, database_url, extra), checkout, port, "/healthz")


def fresh_postgres(name: str) -> str:
    for cmd in (
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name],
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", name],
    ):
        rrp.run(cmd, timeout=60)
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def measure_pair(
    kind: str,
    checkouts: dict[str, Path],
    urls: dict[str, str],
    args: argparse.Namespace,
    results: dict,
    servers: list[rrp.Server],
    items: list[dict],
    run_tag: str,
) -> None:
    pair = {}
    for side, checkout in checkouts.items():
        prepare(checkout, urls[side])
        pair[side] = server(f"{side}-{kind}", checkout, urls[side])
        servers.append(pair[side])
        pair[side].start()
        rrp.open_post_threads(pair[side], None)
        rrp.log(f"seeding {side} ({kind}): 1,000 comments through the API")
        rrp.seed_ours(pair[side], items)
        results["setup"][f"{side}_{kind}_read_check"] = rrp.check_ours(pair[side], 200, 1000)
        rrp.warm_up(pair[side], rrp.our_read_path())
    rrp.measure_alternating(
        [(f"{side}_{kind}_read", pair[side], rrp.our_read_path(), {"expect": 200}) for side in checkouts], args, results
    )
    nocache = {}
    for side, checkout in checkouts.items():
        nocache[side] = server(f"{side}-{kind}-nocache", checkout, urls[side], {"COMMENTS_READ_CACHE_MB": "0"})
        servers.append(nocache[side])
        nocache[side].start()
        rrp.warm_up(nocache[side], rrp.our_read_path())
    rrp.measure_alternating(
        [(f"{side}_{kind}_read_nocache", nocache[side], rrp.our_read_path(), {"expect": 200}) for side in checkouts],
        args,
        results,
    )
    for side in checkouts:
        nocache[side].stop()
    rrp.measure_alternating(
        [
            (
                f"{side}_{kind}_post",
                pair[side],
                rrp.thread_path_ours(rrp.POST_THREAD),
                {"expect": 201, "templates": rrp.post_templates("ours", f"{run_tag}{side}{kind}")},
            )
            for side in checkouts
        ],
        args,
        results,
    )
    for side in checkouts:
        pair[side].stop()


def table(results: dict, kinds: list[str]) -> str:
    lines = [
        "| measurement | base req/s | this req/s | ratio | base CPU ms/req | this CPU ms/req | base p95 ms | this p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = results["summary"]
    for kind in kinds:
        for what in ("read", "read_nocache", "post"):
            base, head = summary[f"base_{kind}_{what}"], summary[f"head_{kind}_{what}"]
            lines.append(
                f"| {kind} {what} | {base['ok_per_second']:.1f} | {head['ok_per_second']:.1f} | "
                f"{head['ok_per_second'] / base['ok_per_second']:.2f} | "
                f"{base['server_cpu_ms_per_ok']:.2f} | {head['server_cpu_ms_per_ok']:.2f} | "
                f"{base['p95_ms']:.1f} | {head['p95_ms']:.1f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the earlier commit to compare with")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement (default 10)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per measurement (default 3)")
    parser.add_argument("--quiet-wait", type=int, default=30, help="seconds to wait for a quiet machine (default 30)")
    parser.add_argument("--quiet-cores", type=float, default=0.15, help="background CPU regarded as quiet")
    parser.add_argument("--retries", type=int, default=1, help="repeat a disturbed measurement this often")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"also on PostgreSQL (databases {', '.join(PG_DATABASES.values())}, dropped first)",
    )
    args = parser.parse_args()
    if not (1 <= args.duration <= 60 and 1 <= args.connections <= 64 and 1 <= args.rounds <= 9):
        parser.error("keep --duration 1-60, --connections 1-64, --rounds 1-9")
    if shutil.which("wrk") is None:
        parser.error("wrk not found: apt-get install -y wrk")

    started_at = datetime.now(UTC)
    run_tag = started_at.strftime("%Y%m%dT%H%M%SZ")
    if rrp.RUN.exists():
        shutil.rmtree(rrp.RUN)
    rrp.RUN.mkdir(parents=True)
    rrp.RESULTS.mkdir(parents=True, exist_ok=True)
    checkouts = {"base": base_checkout(args.base), "head": rrp.REPO}
    head_rev = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=rrp.REPO, capture_output=True, text=True
    ).stdout.strip()
    items = seed_data.thread(seed=1, roots=200, replies_per_root=4)
    results: dict = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]),
        "base": str(checkouts["base"]),
        "head": head_rev,
        "machine": rrp.machine(),
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "rounds": args.rounds,
            "gunicorn_workers": 2,
        },
        "setup": {},
        "raw": {},
        "summary": {},
    }
    servers: list[rrp.Server] = []
    args.servers = servers
    args.quiet_budget, args.quiet_spent = 120.0, 0.0
    kinds = ["sqlite"]
    try:
        urls = {side: f"sqlite:///{rrp.RUN / f'{side}.db'}" for side in checkouts}
        measure_pair("sqlite", checkouts, urls, args, results, servers, items, run_tag)
        if args.postgres:
            kinds.append("pg")
            urls = {side: fresh_postgres(PG_DATABASES[side]) for side in checkouts}
            measure_pair("pg", checkouts, urls, args, results, servers, items, run_tag)
    finally:
        for srv in reversed(servers):
            try:
                srv.stop()
            except Exception as exc:  # keep stopping the others
                rrp.log(f"could not stop {srv.name}: {exc}")
    out = rrp.RESULTS / f"before_after-{run_tag}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    m = results["machine"]
    print(
        f"\n{m['nproc']} CPUs ({m['cpu_model']}); base {checkouts['base'].name}, this {head_rev}; "
        f"wrk -t1 -c{args.connections} -d{args.duration}s, alternating x{args.rounds}"
    )
    print(table(results, kinds))
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
