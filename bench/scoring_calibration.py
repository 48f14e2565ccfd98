#!/usr/bin/env python
"""What the calibration's tables cost the scoring path (issue 17), in-process (run by hand; not a test).

    .venv/bin/python bench/scoring_calibration.py                    # SQLite, a temporary file
    .venv/bin/python bench/scoring_calibration.py --postgres postgresql://postgres@127.0.0.1/bench_calib

A scoring batch, as the worker runs it (``scoring.score_waiting`` in one unit of work, committed),
with and without ``evidence.after_scoring`` (the score bins' upsert and the spot checks' draw),
alternating the two in every round on the same database: the ratio is the added cost. The
classifier is a table (scores known in advance): the model's own time, the same with or without,
is left out, so that the ratio is the database work's alone. Scores are drawn so that most
comments are clean, some near a threshold and a few over it (held); the site's spot-check rate
is the default (0.01), or ``--rate``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class TableClassifier:
    name = "bench"
    version = "1"

    def __init__(self, labels: tuple[str, ...]):
        self.labels = labels
        self.table: dict[str, dict[str, float]] = {}

    def score(self, texts):
        return [self.table[text] for text in texts]


def scores_for(rng: random.Random, labels: tuple[str, ...]) -> dict[str, float]:
    kind = rng.random()
    top = rng.uniform(0.0, 0.2) if kind < 0.8 else rng.uniform(0.4, 0.69) if kind < 0.95 else rng.uniform(0.7, 1.0)
    return {label: (top if i == 0 else rng.uniform(0.0, top)) for i, label in enumerate(labels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database) instead of SQLite")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64, help="comments per scoring batch (the worker's default)")
    parser.add_argument("--rate", type=float, default=0.01, help="the site's spot_check_rate")
    args = parser.parse_args()

    os.environ.setdefault("COMMENTS_WEBHOOK_DELIVERY", "worker")
    work = Path(tempfile.mkdtemp(prefix="bench-calib-"))
    url = args.postgres or f"sqlite:///{work / 'bench.db'}"
    from flask_migrate import upgrade

    from comments import create_app, transaction
    from comments.classifier import DETOXIFY_LABELS
    from comments.extensions import db
    from comments.models import ScoreBin, SpotCheck
    from comments.services import scoring
    from comments.services.audit import Actor
    from comments.services.calibration import evidence
    from comments.services.sites import create_site, update_settings
    from comments.services.submission import NewComment, submit

    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SCORING_MODE": "off",
        }
    )
    app.instance_path = str(work)
    with app.app_context():
        upgrade()
        rng = random.Random(17)
        classifier = TableClassifier(DETOXIFY_LABELS)
        with transaction.unit_of_work():
            site, _ = create_site("bench", ["https://bench.example"])
            update_settings(site, {"spot_check_rate": args.rate}, Actor("operator", "bench"))

        class Waiting:
            enabled = True

            def __init__(self) -> None:
                self.ids: list[int] = []

            def enqueue(self, ids) -> None:
                self.ids.extend(ids)

        counter = 0

        def batch_of_pending() -> list[int]:
            nonlocal counter
            waiting = Waiting()
            with transaction.unit_of_work():
                for _ in range(args.batch):
                    counter += 1
                    body = f"Comment {counter}: " + " ".join(rng.choice("abcdefgh") * 3 for _ in range(12))
                    classifier.table[body] = scores_for(rng, DETOXIFY_LABELS)
                    new = NewComment(body=body, author_name=f"A{counter % 97}", client_ip=f"10.0.{counter % 250}.1")
                    submit(site, f"article-{counter % 20}", new, waiting)
            return waiting.ids

        real = evidence.after_scoring
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for round_ in range(args.rounds + 1):  # the first round warms up and is not counted
            order = ["without", "with"] if round_ % 2 else ["with", "without"]
            for variant in order:
                ids = batch_of_pending()
                evidence.after_scoring = real if variant == "with" else (lambda scored: None)
                started = time.perf_counter()
                with transaction.unit_of_work():
                    run = scoring.score_waiting(classifier, ids, limit=args.batch)
                elapsed = time.perf_counter() - started
                assert run.scored == args.batch, run
                if round_:
                    timings[variant].append(elapsed)
        evidence.after_scoring = real
        bins = db.session.query(ScoreBin).count()
        checks = db.session.query(SpotCheck).count()
        engine = db.engine.dialect.name

    load = os.getloadavg()
    per = {k: statistics.median(v) * 1000 for k, v in timings.items()}
    print(f"engine {engine}, batch {args.batch}, {args.rounds} rounds, spot_check_rate {args.rate}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {bins} score-bin rows, {checks} spot checks drawn")
    print(f"{'':24} {'median ms/batch':>16} {'ms/comment':>11} {'min ms':>8}")
    for variant in ("without", "with"):
        print(
            f"{variant + ' calibration':24} {per[variant]:16.2f} {per[variant] / args.batch:11.3f} "
            f"{min(timings[variant]) * 1000:8.2f}"
        )
    print(f"ratio with / without: {per['with'] / per['without']:.3f}")


if __name__ == "__main__":
    main()
