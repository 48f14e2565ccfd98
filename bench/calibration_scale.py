"""The calibration report at scale: 1,000,000 comments and about 50,000 decisions, on SQLite and
PostgreSQL (issue 17).

    # a database with the schema from the migrations and the simulated site
    python bench/calibration_scale.py generate sqlite:////tmp/calib1m.db
    python bench/calibration_scale.py generate postgresql://postgres@127.0.0.1:5432/calib_bench
    # the report (cold: a fresh process's first call; warm: the median of the next runs), the API
    # call, /metrics, each part of the report alone, and what the report would cost without the
    # aggregates (every scored comment of the window read and binned)
    python bench/calibration_scale.py measure sqlite:////tmp/calib1m.db --runs 7

The data: the simulated site of ``tests/simulation.py`` (calib-stats), with every Detoxify label,
thresholds 0.7, 1% spot checks and 62% of holds decided and spot checks answered (about 50,000
decisions in all: decided holds, answered spot checks, rejected reports), spread evenly over the
last 90 days, written by ``tests/calibration_data.load`` as the pipeline and the decisions would
have left the tables: the comments (scores in their JSON column), ``score_bins`` (per label, day,
model and bin), ``calibration_evidence`` (six rows per decided comment, one per label) and
``spot_checks``. A second site with 1,000 comments shares the tables.

``measure`` prints a JSON summary (also written to ``bench/.work/results/``) with the machine's
load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from comments import create_app, transaction  # noqa: E402
from comments.classifier.base import DETOXIFY_LABELS  # noqa: E402
from comments.extensions import db  # noqa: E402
from comments.models import CalibrationEvidence, Comment, ScoreBin, Site, SpotCheck, utcnow  # noqa: E402
from comments.services import apikeys  # noqa: E402
from comments.services.audit import Actor  # noqa: E402
from comments.services.calibration import estimates, report  # noqa: E402
from comments.services.sites import create_site, get_site  # noqa: E402
from tests import calibration_data as sim  # noqa: E402

COMMENTS = 1_000_000
DAYS = 90
SIMULATION = {"decided_share": 0.62, "spot_check_rate": 0.01}
RESULTS = ROOT / "bench" / ".work" / "results"


def _app(url: str):
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SCORING_MODE": "off", "WEBHOOK_DELIVERY": "worker"})


def _loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def generate(url: str, n: int) -> None:
    app = _app(url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        if get_site("news") is not None:
            sys.exit("The database has the site 'news' already: generate into an empty database.")
        thresholds = dict.fromkeys(DETOXIFY_LABELS, 0.7)
        started = time.perf_counter()
        with transaction.unit_of_work():
            site, _ = create_site("news", [])
            other, _ = create_site("other", [])
            key = apikeys.issue_key(site, "bench", ["moderate"], Actor("operator"))[1]
        end = utcnow()
        with transaction.unit_of_work():
            sim.load(
                site,
                sim.stream(17, n, thresholds, **SIMULATION),
                thresholds,
                n=n,
                start=end - timedelta(days=DAYS),
                end=end,
                batch=10_000,
                keep=False,
            )
        with transaction.unit_of_work():
            sim.load(
                other,
                sim.stream(18, 1000, thresholds, **SIMULATION),
                thresholds,
                n=1000,
                start=end - timedelta(days=DAYS),
                end=end,
            )
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
        else:
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"calibration_key_{db.engine.dialect.name}").write_text(key)
        print(json.dumps(_counts(site) | {"seconds": round(time.perf_counter() - started, 1)}))


def _counts(site: Site) -> dict[str, int]:
    def count(model: Any) -> int:
        return int(db.session.execute(select(func.count()).select_from(model).where(model.site_id == site.id)).scalar())

    decisions = db.session.execute(
        select(func.count(func.distinct(CalibrationEvidence.comment_id))).where(CalibrationEvidence.site_id == site.id)
    ).scalar()
    return {
        "comments": count(Comment),
        "decisions": int(decisions or 0),
        "evidence_rows": count(CalibrationEvidence),
        "score_bin_rows": count(ScoreBin),
        "spot_checks": count(SpotCheck),
    }


def _timed(function: Any, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
    }


def _without_aggregates(site: Site) -> None:
    """What the hold rates and drift alone would cost read from the comments: every scored comment
    of the window, its scores binned per label (no decisions joined: a lower bound)."""
    since = utcnow() - timedelta(days=DAYS)
    counts = {label: [0] * estimates.BIN_COUNT for label in DETOXIFY_LABELS}
    for (scores,) in db.session.execute(
        select(Comment.scores).where(
            Comment.site_id == site.id, Comment.created_at >= since, Comment.scores.is_not(None)
        )
    ).yield_per(10_000):
        for label, score in scores.items():
            counts[label][estimates.score_bin(score)] += 1


def measure(url: str, runs: int) -> None:
    before = _loadavg()
    app = _app(url)
    engine = None
    results: dict[str, Any] = {"database": url.split(":", 1)[0], "load_before": before}
    with app.app_context():
        engine = db.engine.dialect.name
        site = get_site("news")
        assert site is not None, "generate first"
        results["data"] = _counts(site)
        started = time.perf_counter()
        first = report.calibration_report(site)
        results["report_cold_ms"] = round((time.perf_counter() - started) * 1000, 1)
        results["report_warm"] = _timed(lambda: report.calibration_report(site), runs)
        since = utcnow() - timedelta(days=DAYS)
        thresholds = dict.fromkeys(DETOXIFY_LABELS, 0.7)
        binned = report.label_data(site, since, thresholds)
        results["parts"] = {
            "label_data (score_bins + evidence, grouped)": _timed(
                lambda: report.label_data(site, since, thresholds), runs
            ),
            "median time held (window function)": _timed(lambda: report._median_held(site, since), runs),
            "drift (5 weeks of score_bins)": _timed(lambda: report._drift(site, utcnow()), runs),
            "effect (last 1000 comments + their evidence)": _timed(lambda: report._recent_comments(site), runs),
            "spot-check figures": _timed(lambda: report._spot_check_figures(site, since), runs),
            "estimates (6 labels, pure Python)": _timed(
                lambda: [estimates.summarize(d, estimates.Objective("balance")) for d in binned.values()], runs
            ),
        }
        results["metrics_site_metrics"] = _timed(report.site_metrics, runs)
        key = (RESULTS / f"calibration_key_{engine}").read_text().strip()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        response = client.get("/api/v1/moderation/sites/news/calibration", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        results["api_bytes"] = len(response.get_data())
        results["api_warm"] = _timed(
            lambda: client.get("/api/v1/moderation/sites/news/calibration", headers=headers), runs
        )
        results["metrics_scrape"] = _timed(lambda: client.get("/metrics"), runs)
        results["without_aggregates_ms"] = _timed(lambda: _without_aggregates(site), 1)["median_ms"]
        toxicity = first.label("toxicity")
        results["toxicity"] = {
            "decisions": toxicity.decisions,
            "holds_decided": toxicity.holds_decided,
            "share_rejected": toxicity.share_rejected.value if toxicity.share_rejected else None,
            "recommended": toxicity.recommendation.threshold,
        }
    results["load_after"] = _loadavg()
    results["machine"] = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
    results["when"] = utcnow().isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"calibration_scale-{engine}-{int(time.time())}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("generate", "measure"))
    parser.add_argument("url")
    parser.add_argument("--comments", type=int, default=COMMENTS)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("COMMENTS_WEBHOOK_DELIVERY", "worker")
    if args.command == "generate":
        generate(args.url, args.comments)
    else:
        measure(args.url, args.runs)


if __name__ == "__main__":
    main()
