"""Readiness with the classifier, and the Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.models import Comment, utcnow


def test_readyz_includes_the_classifier(client, scoring):
    body = client.get("/readyz").json
    assert body["status"] == "ready"
    assert body["checks"]["classifier"] == "loaded"


def test_readyz_is_503_while_the_classifier_cannot_load(app, client, db):
    from comments.tasks import ClassifierHolder
    from comments.tasks.inprocess import InProcessScoring

    broken = InProcessScoring(
        app, ClassifierHolder({"CLASSIFIER_CHECKPOINT": "/nonexistent.ckpt", "CLASSIFIER_ALLOW_UNPINNED": True})
    )
    broken.holder.get()
    app.extensions["comments.scoring"] = broken
    try:
        response = client.get("/readyz")
    finally:
        app.extensions["comments.scoring"] = None
    assert response.status_code == 503
    assert response.json["checks"]["classifier"].startswith("classifier: failed:")


def test_metrics(api, client, db, site, scoring):
    api.post("A calm remark about the budget")
    api.post("You are a stupid idiot and I will hurt you", "Troll", ip="192.0.2.5")
    scoring.wait_idle()
    db.session.query(Comment).filter_by(status="held").update({"created_at": utcnow() - timedelta(minutes=5)})
    db.session.commit()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'comments_by_status{status="held"} 1.0' in text
    assert 'comments_by_status{status="published"} 1.0' in text
    assert 'moderation_queue_depth{queue="held"} 1.0' in text
    oldest = float(
        next(line.split()[-1] for line in text.splitlines() if line.startswith("moderation_oldest_held_seconds"))
    )
    assert 290 < oldest < 400
    assert 'comments_scored_total{outcome="held"}' in text
    assert "comments_scoring_batch_seconds_bucket" in text


def test_metrics_hold_precision_and_spot_check_backlog_per_site(client, db, site):
    from comments.services.sites import create_site
    from tests import calibration_data as sim

    loaded = sim.load_simulation(site, 1500, seed=4, end=utcnow(), days=60)
    create_site("quiet", [])
    db.session.commit()
    since = utcnow() - timedelta(days=30)
    holds = [c for c, at in zip(loaded.comments, loaded.decided, strict=True) if c.held and c.decided and at >= since]
    waiting = sum(1 for c in loaded.comments if c.spot_checked and not c.decided and not c.report_rejected)
    text = client.get("/metrics").get_data(as_text=True)
    precision = float(
        next(line.split()[-1] for line in text.splitlines() if line.startswith('comments_hold_precision{site="news"}'))
    )
    assert precision == pytest.approx(sum(c.rejected for c in holds) / len(holds))
    assert f'comments_holds_decided{{site="news"}} {float(len(holds))}' in text
    assert f'comments_spot_check_backlog{{site="news"}} {float(waiting)}' in text
    # A site without decided holds has no precision to show, and nothing waiting.
    assert 'comments_hold_precision{site="quiet"}' not in text
    assert 'comments_spot_check_backlog{site="quiet"} 0.0' in text


def test_metrics_with_more_sites_than_a_statement_takes_parameters(client, db, site):
    """SQLite takes at most 32,766 parameters in a statement (PostgreSQL 65,535): the calibration's
    figures of every site must not name each site's id in one."""
    from comments.models import Site

    rows = [{"slug": f"s{i}", "name": f"s{i}", "allowed_origins": [], "settings": {}} for i in range(66_000)]
    db.session.execute(Site.__table__.insert(), rows)
    db.session.commit()
    answer = client.get("/metrics")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert 'comments_spot_check_backlog{site="s65999"} 0.0' in text
