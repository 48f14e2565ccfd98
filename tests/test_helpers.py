"""The shared test helpers refuse what the app would refuse, so that no test runs on a setting or
a score it only believes it set."""

from __future__ import annotations

import pytest

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
