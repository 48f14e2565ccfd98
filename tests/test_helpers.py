"""The shared test helpers refuse what the app would refuse, so that no test runs on a setting or
a score it only believes it set."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comments.classifier.base import DETOXIFY_LABELS
from comments.models import Comment
from comments.services.errors import Invalid
from comments.services.sites import effective_settings
from tests.helpers import FixedClassifier, set_settings


def test_set_settings_sets_what_the_app_would(site, db):
    set_settings(site, premoderation="all", suspect_words=["Crypto", "crypto", " deal "], thresholds={"insult": 0.5})
    db.session.expire_all()
    settings = effective_settings(site)
    assert settings["premoderation"] == "all"
    assert settings["suspect_words"] == ["crypto", "deal"]  # as the dashboard and the host API store them
    assert settings["thresholds"]["insult"] == 0.5 and settings["thresholds"]["toxicity"] == 0.7


@pytest.mark.parametrize(
    "settings",
    [
        {"premoderaton": "all"},  # misspelt: the app has no such setting
        {"premoderation": "everything"},
        {"max_depth": 0},
        {"edit_window_seconds": "600"},
        {"thresholds": {"toxic": 0.5}},
        {"reject_thresholds": {"threat": 1.5}},
    ],
)
def test_set_settings_refuses_an_unknown_setting_or_an_invalid_value(site, db, settings):
    with pytest.raises(Invalid):
        set_settings(site, **settings)
    assert effective_settings(site) == effective_settings(type(site)(settings={}))


def test_fixed_classifier_scores_from_its_table_and_refuses_labels_it_does_not_have():
    classifier = FixedClassifier({"rude": {"insult": 0.9}})
    rude, other = classifier.score(["rude", "kind"])
    assert rude["insult"] == 0.9 and rude["toxicity"] == 0.01 and set(rude) == set(classifier.labels)
    assert set(other.values()) == {0.01}
    with pytest.raises(ValueError, match="insults"):
        FixedClassifier({"rude": {"insults": 0.9}})
    with pytest.raises(ValueError, match="probabilities"):
        FixedClassifier({"rude": {"insult": 90}})


def test_the_calibration_loader_writes_what_the_tables_would_hold(db, site):
    """Small batches (spot checks fill theirs long before the comments they refer to do), and
    every table's rows adding up to the simulation."""
    from sqlalchemy import func, select

    from comments.models import CalibrationEvidence, ScoreBin, SpotCheck
    from tests import calibration_data as sim

    thresholds = dict.fromkeys(DETOXIFY_LABELS, 0.7)
    simulated = sim.comments(5, 600, thresholds, spot_check_rate=0.2)
    loaded = sim.load(site, simulated, thresholds, n=600, start=sim.NOW - timedelta(days=3), batch=7)
    db.session.commit()

    def count(model, *where):
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()

    assert count(Comment, Comment.site_id == site.id) == 600
    assert db.session.execute(select(func.sum(ScoreBin.scored))).scalar() == 600 * len(DETOXIFY_LABELS)
    assert count(SpotCheck) == sum(c.spot_checked for c in simulated) > 7
    judged = sum(1 for c in simulated if (c.held and c.decided) or c.report_rejected or (c.spot_checked and c.decided))
    assert count(CalibrationEvidence) == judged * len(DETOXIFY_LABELS)
    assert loaded.created[0] == sim.NOW - timedelta(days=3) and loaded.created[-1] < sim.NOW
