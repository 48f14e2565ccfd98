"""The Perspective-compatible analyze path, one request at a time, through the Flask app (no
network, no concurrency): the protocol's own cost (key, JSON, checks, answer, with a scorer that
does nothing) and the whole request on a bert-base-shaped model through the process's shared
scorer (``comments.tasks.analyzer``). Concurrent load at 5/10/20 requests/s is
bench/perspective_latency.py's (the shared batching scorer's benchmark).

    .venv/bin/python bench/perspective_protocol.py [--requests 100] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from classifier_throughput import build_bert_base, make_comments  # noqa: E402

from comments import create_app  # noqa: E402
from comments.classifier import load_classifier  # noqa: E402
from comments.extensions import db  # noqa: E402
from comments.services.apikeys import issue_key  # noqa: E402
from comments.services.sites import create_site  # noqa: E402
from comments.tasks.analyzer import EXTENSION, Analysis, SharedScorer, Span  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--threads", default="1,2", help="torch threads to try, comma-separated")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp())
    checkpoint, config_dir, sha256 = build_bert_base(work)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{work}/db.sqlite",
            "SECRET_KEY": "x",
            "HASH_KEY": "y",
            "SCORING_MODE": "off",
            "RATELIMIT_ENABLED": False,
            "WEBHOOK_DELIVERY": "worker",
        }
    )
    with app.app_context():
        from flask_migrate import upgrade  # deferred: only once the app exists

        upgrade()
        site, _ = create_site("news", [])
        _, key = issue_key(site, "bench", ["analyze"])
        db.session.commit()
    client = app.test_client()
    comments = make_comments(max(200, args.requests))

    def run(label: str, n: int, spans: bool) -> None:
        times = []
        for text in comments[:n]:
            body = {
                "comment": {"text": text},
                "requestedAttributes": {"TOXICITY": {}},
                "languages": ["en"],
                "doNotStore": True,
                "spanAnnotations": spans,
            }
            started = time.perf_counter()
            response = client.post(f"/v1alpha1/comments:analyze?key={key}", json=body)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.get_json()
        times.sort()

        def quantile(p: float) -> float:
            return times[min(len(times) - 1, int(p * len(times)))] * 1000

        print(
            f"| {label} | {n} | {quantile(0.5):.1f} ms | {quantile(0.95):.1f} ms | {quantile(0.99):.1f} ms"
            f" | {statistics.mean(times) * 1000:.1f} ms |",
            flush=True,
        )

    print(f"load average before: {os.getloadavg()}")
    print("| path | requests | p50 | p95 | p99 | mean |\n|---|---|---|---|---|---|")
    labels = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
    app.extensions[EXTENSION] = SimpleNamespace(
        analyze=lambda texts, timeout: [
            Analysis(dict.fromkeys(labels, 0.1), [Span(0, len(text), {})]) for text in texts
        ]
    )
    run("protocol only (a scorer that does nothing)", 200, False)
    for threads in (int(t) for t in args.threads.split(",")):
        classifier = load_classifier(
            {
                "CLASSIFIER_CHECKPOINT": str(checkpoint),
                "CLASSIFIER_CHECKPOINT_SHA256": sha256,
                "CLASSIFIER_CONFIG_DIR": str(config_dir),
                "CLASSIFIER_THREADS": threads,
            }
        )
        scorer = SharedScorer({}, classifier)
        app.extensions[EXTENSION] = scorer
        run(f"shared scorer, bert-base-shaped, torch fp32, {threads} thread(s)", args.requests, False)
        run(f"the same with spanAnnotations, {threads} thread(s)", args.requests, True)
        scorer.stop()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
