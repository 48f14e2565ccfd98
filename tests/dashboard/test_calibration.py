"""The calibration page: renders with and without data, draws the curves and the drift, applies a
recommendation (audited) and saves the objective; refuses what it should."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from comments.models import AuditEvent, utcnow
from comments.services.sites import CLASSIFIER_LABELS, effective_settings
from tests import calibration_data as sim

URL = "/mod/sites/news/calibration"


@pytest.fixture()
def simulated(db, site):
    comments = sim.load_simulation(site, 2000, seed=3, end=utcnow())
    db.session.commit()
    return comments


def test_the_page_without_data_says_not_enough_decisions(dashboard, site):
    page = dashboard.get(URL)
    assert page.status_code == 200
    text = page.text
    for label in CLASSIFIER_LABELS:
        assert f'id="label-{label}"' in text
    assert text.count("Not enough decisions yet") == len(CLASSIFIER_LABELS)
    assert "No comments scored in this period." in text
    assert "<path" not in text  # nothing to draw
    assert 'aria-current="page">Calibration</a>' in text


def test_the_page_with_data_draws_the_curves_and_offers_apply(dashboard, site, simulated):
    page = dashboard.get(URL, query_string={"objective": "hold_rate", "target": "2"})
    assert page.status_code == 200, page.text
    text = page.text
    section = text[text.index('id="label-toxicity"') : text.index('id="label-severe_toxicity"')]
    assert 'class="chart-line line-precision" d="M' in section
    assert 'class="chart-band band-recall" d="M' in section and " Z" in section
    assert 'class="chart-line line-hold-rate" d="M' in section
    assert "marker-current" in section and "marker-recommended" in section
    assert "Recommended: 0." in section
    assert re.search(r"On the last \d+ comments it would have held\s+<strong>\d+ (fewer|more)</strong>", section)
    assert 'hx-confirm="Set the toxicity threshold from 0.70 to 0.' in section
    assert "Not enough decisions yet" not in section
    assert 'class="bar-recent"' in section  # the two distributions
    assert "hold rate: hold at most 2.0% of comments" in text


def test_apply_from_the_page_sets_the_threshold_audited(dashboard, db, site, simulated):
    response = dashboard.post(
        f"{URL}/apply", {"label": "toxicity", "objective": "hold_rate", "target": "2", "days": "90"}
    )
    assert response.status_code == 200, response.text
    assert "Thresholds set" in response.text and 'id="calibration"' in response.text
    assert "<html" not in response.text  # htmx: the page's part only
    db.session.expire_all()
    after = effective_settings(site)["thresholds"]["toxicity"]
    assert after != 0.7
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).scalar_one()
    assert event.actor_type == "moderator"
    assert event.reasons[1]["labels"]["toxicity"]["recommended"] == after
    assert event.reasons[1]["objective"] == {"kind": "hold_rate", "target": 0.02}


def test_apply_without_enough_decisions_changes_nothing(dashboard, db, site):
    response = dashboard.post(f"{URL}/apply", {"label": "toxicity"})
    assert response.status_code == 200
    assert "No threshold changed." in response.text and "not enough decisions yet" in response.text
    assert effective_settings(site)["thresholds"]["toxicity"] == 0.7


@pytest.mark.parametrize(
    "data,message",
    [
        ({"label": "rudeness"}, "No such label."),
        ({"objective": "precision"}, "needs a target"),
        ({"objective": "precision", "target": "abc"}, "Not a number"),
        ({"objective": "recall"}, "must be one of"),
        ({"days": "0"}, "between 1 and 365"),
    ],
)
def test_bad_apply_forms_are_422_and_change_nothing(dashboard, site, data, message):
    response = dashboard.post(f"{URL}/apply", data)
    assert response.status_code == 422
    assert message in response.text
    assert effective_settings(site)["thresholds"] == dict.fromkeys(CLASSIFIER_LABELS, 0.7)


def test_apply_needs_the_csrf_token(dashboard, site):
    assert dashboard.post(f"{URL}/apply", {"label": "toxicity"}, csrf=False).status_code == 403


def test_saving_the_objective(dashboard, db, site):
    response = dashboard.post(f"{URL}/objective", {"objective": "precision", "target": "85"}, htmx=False)
    assert response.status_code == 303
    db.session.expire_all()
    assert effective_settings(site)["calibration_objective"] == {"kind": "precision", "target": 0.85}
    page = dashboard.get(response.headers["Location"])
    assert "Saved: recommendations now aim for this objective." in page.text
    assert "precision: at least 85% of holds rejected" in page.text
    # The target box may keep a number while "balance" is picked: balance takes none, so it is not read.
    assert dashboard.post(f"{URL}/objective", {"objective": "balance", "target": "50"}, htmx=False).status_code == 303
    db.session.expire_all()
    assert effective_settings(site)["calibration_objective"] == {"kind": "balance"}
    refused = dashboard.post(f"{URL}/objective", {"objective": ""}, htmx=False)
    assert refused.status_code == 422 and "Choose an objective." in refused.text


def test_drift_and_a_model_change_are_shown(dashboard, db, site):
    from datetime import timedelta

    from tests.simulation import LabelScores

    thresholds = dict(effective_settings(site)["thresholds"])
    boundary = utcnow() - timedelta(days=6)
    sim.load(
        site,
        sim.comments(11, 800, thresholds),
        thresholds,
        n=800,
        start=boundary - timedelta(days=28),
        end=boundary - timedelta(days=1),
    )
    shifted = {label: LabelScores(abusive=(1.5, 1.6), clean=(-1.0, 1.5)) for label in CLASSIFIER_LABELS}
    sim.load(
        site,
        sim.comments(12, 300, thresholds, labels=shifted),
        thresholds,
        n=300,
        start=boundary,
        end=utcnow(),
        model="detoxify-unbiased@test",
    )
    db.session.commit()
    text = dashboard.get(URL).text
    section = text[text.index('id="label-toxicity"') : text.index('id="label-severe_toxicity"')]
    assert "The scores drifted" in section and "The model changed" in section
    assert "detoxify-original@test → detoxify-unbiased@test" in section
    assert '<details class="drift" open>' in section


def test_the_index_lists_the_sites_or_goes_to_the_only_one(dashboard, other_site_moderator, site):
    assert dashboard.get("/mod/calibration").status_code == 200  # all sites: a list
    response = other_site_moderator.get("/mod/calibration")
    assert response.status_code == 302 and response.headers["Location"].endswith("/mod/sites/other/calibration")


def test_another_sites_moderator_is_refused(other_site_moderator, site):
    assert other_site_moderator.get(URL).status_code == 403
    assert other_site_moderator.post(f"{URL}/apply", {"label": "toxicity"}).status_code == 403
    assert other_site_moderator.get("/mod/sites/Not_a_slug/calibration").status_code == 404


def test_logged_out_goes_to_the_login(client, site):
    response = client.get(URL)
    assert response.status_code == 302 and "/mod/login" in response.headers["Location"]


def test_bad_query_values_are_shown_not_crashed_on(dashboard, site):
    response = dashboard.get(URL, query_string={"days": "x", "objective": "precision", "target": "200"})
    assert response.status_code == 422
    assert "Not a whole number" in response.text and "Must be between" in response.text


@pytest.mark.parametrize(
    ("current", "recommended", "anchors"),
    [
        (0.7, None, {"current": "start"}),
        (0.7, 0.45, {"current": "start", "recommended": "end"}),  # labels on either side: never crossed
        (0.45, 0.7, {"current": "end", "recommended": "start"}),
        (0.05, 0.01, {"current": "start", "recommended": "start"}),  # no room on the left of 0.01
        (0.5, 0.95, {"current": "end", "recommended": "end"}),  # no room on the right of 0.95
    ],
)
def test_marker_labels_stay_inside_the_chart_and_apart(current, recommended, anchors):
    from comments.dashboard.views.calibration import _markers

    markers = _markers(current, recommended)
    assert {kind: anchor for kind, _, _, anchor, _ in markers} == anchors
    # Two labels on the same side are on two lines.
    assert len({(anchor, y) for _, _, _, anchor, y in markers}) == len(markers)
