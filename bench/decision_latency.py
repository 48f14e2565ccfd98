#!/usr/bin/env python
"""Time from POST to decision while comments arrive at a steady rate (run by hand; not a test).

    .venv/bin/python bench/decision_latency.py                      # test model, in-process
    .venv/bin/python bench/decision_latency.py --model bert-base    # bert-base-shaped model
    .venv/bin/python bench/decision_latency.py --mode rq --model bert-base

It starts the service under gunicorn on 127.0.0.1 (embedded mode: one process with the in-process
scoring thread, SQLite; or ``--mode rq``: two web workers, one ``flask comments worker``,
PostgreSQL and Redis), posts comments of mixed lengths at ``--rate`` per second for ``--seconds``
(open loop: a post is sent on schedule whether or not earlier ones were answered), waits until
every comment is decided, and reads each comment's ``created_at`` and ``scored_at`` from the
database: the decision latency is their difference. POST response times are measured too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def prepare_model(kind: str, work: Path) -> dict[str, str]:
    if kind == "test":
        from comments.classifier.testmodel import build_test_model

        info = build_test_model(work / "test-model")
        return {
            "CHECKPOINT": str(info.checkpoint_path),
            "CONFIG_DIR": str(info.config_dir),
            "CHECKPOINT_SHA256": info.sha256,
        }
    sys.path.insert(0, str(ROOT / "bench"))
    from classifier_throughput import build_bert_base

    checkpoint, config_dir, sha = build_bert_base(work / "bert-base")
    return {"CHECKPOINT": str(checkpoint), "CONFIG_DIR": str(config_dir), "CHECKPOINT_SHA256": sha}


def make_comments(n: int) -> list[str]:
    from comments.classifier.testmodel import load_labelled_sample

    sentences = [e.text for e in load_labelled_sample()]
    rng = random.Random(7)
    comments = []
    for i in range(n):
        words = rng.choice([1, 1, 2, 3, 5, 8, 20])  # sentences per comment: mostly short, a few long
        comments.append(f"({i}) " + " ".join(rng.choice(sentences) for _ in range(words)))
    return comments


def request(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_ready(base: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status, body = request("GET", base + "/readyz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"service not ready: {base}/readyz")


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    model = prepare_model(args.model, work)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "FLASK_APP": "wsgi",
        "COMMENTS_SECRET_KEY": "bench",
        "COMMENTS_RATELIMIT_ENABLED": "false",
        "COMMENTS_CLASSIFIER_PRECISION": args.precision,
        "COMMENTS_SCORING_MODE": args.mode,
    }
    env.update({f"COMMENTS_CLASSIFIER_{k}": v for k, v in model.items()})
    if args.mode == "rq":
        env["COMMENTS_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/test"
        env["COMMENTS_REDIS_URL"] = "redis://127.0.0.1:6379/14"
        subprocess.run(
            [str(BIN / "flask"), "db", "downgrade", "base"], cwd=ROOT, env=env, check=True, capture_output=True
        )
    else:
        env["COMMENTS_DATABASE_URL"] = f"sqlite:///{work / 'comments.db'}"
    subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [str(BIN / "flask"), "comments", "create-site", "bench"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    port = args.port
    base = f"http://127.0.0.1:{port}"
    workers = ["--workers", "2"] if args.mode == "rq" else ["--workers", "1", "--threads", "8"]
    processes = [
        subprocess.Popen(
            [str(BIN / "gunicorn"), *workers, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    if args.mode == "rq":
        processes.append(
            subprocess.Popen(
                [str(BIN / "flask"), "comments", "worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        # The in-process worker loads its model on the first request; wait for that.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if request("GET", base + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        wait_ready(base)
        url = base + "/api/v1/sites/bench/threads/latency/comments"
        warm_status, warm = request("POST", url, {"body": "warming up the model", "author_name": "warmup"})
        assert warm_status in (201, 202), warm
        time.sleep(2)

        total = int(args.rate * args.seconds)
        comments = make_comments(total)
        post_times: list[float] = []
        statuses: dict[int, int] = {}
        ids: list[int] = []
        started = time.monotonic()

        def post(i: int) -> None:
            delay = started + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            status, body = request("POST", url, {"body": comments[i], "author_name": f"reader{i}"})
            post_times.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if "comment" in body:
                ids.append(body["comment"]["id"])

        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(post, range(total)))
        sending = time.monotonic() - started

        # Wait for every decision, then read the timestamps from the database.
        os.environ.update({k: v for k, v in env.items() if k.startswith("COMMENTS_")})
        os.environ["COMMENTS_SCORING_MODE"] = "off"
        from comments import create_app
        from comments.extensions import db
        from comments.models import Comment

        app = create_app()
        with app.app_context():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                waiting = db.session.query(Comment).filter(Comment.id.in_(ids), Comment.status == "pending").count()
                db.session.rollback()
                if not waiting:
                    break
                time.sleep(0.2)
            rows = (
                db.session.query(Comment.created_at, Comment.scored_at, Comment.status)
                .filter(Comment.id.in_(ids))
                .all()
            )
            db.engine.dispose()
        latencies = [(s - c).total_seconds() for c, s, _ in rows if s is not None]
        outcome: dict[str, int] = {}
        for _, _, status in rows:
            outcome[status] = outcome.get(status, 0) + 1
        return {
            "mode": args.mode,
            "model": args.model,
            "precision": args.precision,
            "rate": args.rate,
            "seconds": args.seconds,
            "posted": total,
            "sent_in_seconds": round(sending, 1),
            "http_statuses": statuses,
            "decided": len(latencies),
            "outcomes": outcome,
            "decision_p50_ms": round(1000 * percentile(latencies, 0.50)),
            "decision_p95_ms": round(1000 * percentile(latencies, 0.95)),
            "decision_max_ms": round(1000 * max(latencies)),
            "post_p50_ms": round(1000 * statistics.median(post_times), 1),
            "post_p95_ms": round(1000 * percentile(post_times, 0.95), 1),
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["inprocess", "rq"], default="inprocess")
    parser.add_argument("--model", choices=["test", "bert-base"], default="test")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--rate", type=float, default=10.0, help="comments per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=8093)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
