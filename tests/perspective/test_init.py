"""Which scorer the analyze path gets, per scoring mode."""

from __future__ import annotations

from comments.extensions import db as _db
from comments.perspective.standin import StandInAnalyzer
from tests.helpers import app_of_its_own


def test_scoring_off_means_no_scorer(app):
    assert app.config["SCORING_MODE"] == "off"
    assert app.extensions["comments.analyzer"] is None


def test_inprocess_scoring_shares_its_classifier_with_the_analyze_path(db, tmp_path, own_limiter_storage):
    # db: on PostgreSQL the app of its own shares the suite's database, emptied afterwards.
    application = app_of_its_own(tmp_path, "inprocess.db", SCORING_MODE="inprocess")
    analyzer = application.extensions["comments.analyzer"]
    assert isinstance(analyzer, StandInAnalyzer)
    assert analyzer.holder is application.extensions["comments.scoring"].holder  # one model per process
    assert analyzer.holder.state == "not_loaded"  # loaded on first need, not at start-up
    with application.app_context():
        _db.engine.dispose()
