"""The calibration API: the report and applying it, for the site's moderators and its keys with
the moderate scope; clean JSON errors for everything a client can get wrong."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from comments.models import AuditEvent, utcnow
from comments.services.accounts import create_moderator
from comments.services.sites import CLASSIFIER_LABELS, create_site, effective_settings
from tests import calibration_data as sim
from tests.helpers import PASSWORD, bearer

URL = "/api/v1/moderation/sites/news/calibration"


def _token(client, email="mod@news.example"):
    response = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return bearer(response.json["token"])


@pytest.fixture()
def auth(client, moderator):
    return _token(client)


@pytest.fixture()
def simulated(db, site):
    comments = sim.load_simulation(site, 2000, seed=3, end=utcnow())
    db.session.commit()
    return comments


def _key(client, site, scopes):
    created = client.post(
        "/api/v1/sites/news/keys", headers=bearer(site.test_api_key), json={"label": "cms", "scopes": scopes}
    )
    assert created.status_code == 201, created.json
    return bearer(created.json["api_key"])


def test_the_report_as_json(client, auth, simulated):
    response = client.get(URL, headers=auth)
    assert response.status_code == 200, response.json
    body = response.json["calibration"]
    assert body["site"] == "news" and body["days"] == 90
    assert body["objective"] == {"kind": "balance", "target": None}
    assert [item["label"] for item in body["labels"]] == list(CLASSIFIER_LABELS)
    toxicity = body["labels"][0]
    assert toxicity["enough_decisions"] is True
    assert set(toxicity["share_rejected"]) == {"value", "low", "high"}
    assert toxicity["curve"] and {"threshold", "hold_rate", "precision", "recall", "f1"} <= set(toxicity["curve"][0])
    assert toxicity["recommendation"]["reason"]
    assert len(toxicity["drift"]["recent"]) == 20
    assert body["since"].endswith("Z") and isinstance(body["spot_check_backlog"], int)
    assert body["auto_calibrate"]["enabled"] is False


def test_the_objective_and_window_from_the_query(client, auth, simulated):
    response = client.get(URL, headers=auth, query_string={"objective": "hold_rate", "target": "0.02", "days": "30"})
    assert response.status_code == 200, response.json
    body = response.json["calibration"]
    assert body["objective"] == {"kind": "hold_rate", "target": 0.02} and body["days"] == 30
    toxicity = body["labels"][0]
    assert toxicity["recommendation"]["point"]["hold_rate"] <= 0.02
    assert toxicity["effect"]["comments"] > 0


@pytest.mark.parametrize(
    "query,field",
    [
        ({"days": "0"}, "days"),
        ({"days": "366"}, "days"),
        ({"days": "ten"}, "days"),
        ({"days": "١٢"}, "days"),
        ({"objective": "recall"}, "objective"),
        ({"objective": "precision"}, "objective"),  # needs a target
        ({"objective": "balance", "target": "0.5"}, "objective"),  # takes none
        ({"objective": "precision", "target": "1.5"}, "target"),
        ({"objective": "precision", "target": "nan"}, "target"),
        ({"target": "0.5"}, "target"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_queries_are_422_with_the_field(client, auth, site, query, field):
    response = client.get(URL, headers=auth, query_string=query)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_failed"
    assert field in response.json["error"]["fields"]


def test_unknown_site_is_404(client, auth, db):
    for slug in ("nowhere", "Not-A-Slug", "x" * 65):
        response = client.get(f"/api/v1/moderation/sites/{slug}/calibration", headers=auth)
        assert response.status_code == 404
        assert response.json["error"]["code"] == "site_not_found"


def test_without_credentials_401(client, site):
    assert client.get(URL).status_code == 401
    response = client.post(URL + "/apply", json={"labels": "nonsense"})
    assert response.status_code == 401  # who asks before what was sent


def test_a_moderator_of_another_site_is_refused(client, db, site):
    create_site("other", [])
    create_moderator("limited@other.example", PASSWORD, ["other"])
    db.session.commit()
    auth = _token(client, "limited@other.example")
    assert client.get(URL, headers=auth).status_code == 403
    response = client.post(URL + "/apply", headers=auth, json={})
    assert response.status_code == 403 and response.json["error"]["code"] == "site_not_allowed"
    assert client.get("/api/v1/moderation/sites/other/calibration", headers=auth).status_code == 200


def test_a_host_key_needs_the_moderate_scope_and_its_own_site(client, db, site, simulated):
    moderate = _key(client, site, ["moderate"])
    assert client.get(URL, headers=moderate).status_code == 200
    host_only = _key(client, site, ["host"])
    response = client.get(URL, headers=host_only)
    assert response.status_code == 403 and response.json["error"]["code"] == "scope_missing"
    create_site("other", [])
    db.session.commit()
    response = client.get("/api/v1/moderation/sites/other/calibration", headers=moderate)
    assert response.status_code == 403


def test_apply_sets_thresholds_audited_with_the_evidence(client, auth, db, site, simulated):
    response = client.post(
        URL + "/apply", headers=auth, json={"labels": ["toxicity"], "objective": {"kind": "hold_rate", "target": 0.03}}
    )
    assert response.status_code == 200, response.json
    body = response.json
    [change] = body["applied"]
    assert change["label"] == "toxicity" and change["after"] == change["recommended"] != change["before"]
    assert body["left_alone"] == []
    db.session.expire_all()
    assert effective_settings(site)["thresholds"]["toxicity"] == change["after"]
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).scalar_one()
    assert event.actor_type == "moderator"
    assert event.reasons[1]["labels"]["toxicity"]["point"]["threshold"] == change["after"]
    # The answer's report is from before the change (what the change was made from).
    assert body["calibration"]["labels"][0]["threshold"] == change["before"]


def test_apply_by_a_host_key_is_audited_as_the_host(client, db, site, simulated):
    moderate = _key(client, site, ["moderate"])
    response = client.post(URL + "/apply", headers=moderate, json={"objective": {"kind": "hold_rate", "target": 0.03}})
    assert response.status_code == 200, response.json
    assert "toxicity" in {change["label"] for change in response.json["applied"]}
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "settings_changed")).scalar_one()
    assert event.actor_type == "host" and event.actor_id.startswith("key:")
    assert event.reasons[1]["objective"] == {"kind": "hold_rate", "target": 0.03}


def test_apply_lists_the_labels_it_left_alone(client, auth, site):
    response = client.post(URL + "/apply", headers=auth, json={})
    assert response.status_code == 200, response.json
    assert response.json["applied"] == []
    assert {item["label"] for item in response.json["left_alone"]} == set(CLASSIFIER_LABELS)
    assert {item["reason"] for item in response.json["left_alone"]} == {"not_enough_decisions"}
    assert all(item["message"] for item in response.json["left_alone"])


@pytest.mark.parametrize(
    "body,field",
    [
        ({"labels": ["rudeness"]}, "labels"),
        ({"labels": []}, "labels"),
        ({"labels": "toxicity"}, "labels"),
        ({"objective": "recall"}, "objective"),
        ({"objective": {"kind": "precision"}}, "objective"),
        ({"objective": {"kind": "precision", "target": 2}}, "objective"),
        ({"objective": {"kind": "precision", "target": "0.9"}}, "objective"),
        ({"objective": {"kind": "balance", "colour": 1}}, "objective"),
        ({"objective": 7}, "objective"),
        ({"days": 0}, "days"),
        ({"days": "30"}, "days"),
        ({"threshold": 0.5}, "threshold"),
    ],
)
def test_bad_apply_bodies_are_422(client, auth, site, body, field):
    response = client.post(URL + "/apply", headers=auth, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert db_untouched(site)


def db_untouched(site):
    return effective_settings(site)["thresholds"] == dict.fromkeys(CLASSIFIER_LABELS, 0.7)


def test_apply_refuses_bodies_that_are_not_json(client, auth, site):
    response = client.post(URL + "/apply", headers={**auth, "Content-Type": "application/json"}, data=b"{nope")
    assert response.status_code == 400
    assert response.json["error"]["code"]


def test_the_openapi_document_describes_both_calls(client):
    spec = client.get("/api/v1/openapi.json").json
    path = spec["paths"]["/api/v1/moderation/sites/{site_slug}/calibration"]["get"]
    names = {parameter["name"] for parameter in path["parameters"]}
    assert {"days", "objective", "target"} <= names
    assert "200" in path["responses"] and "404" in path["responses"]
    apply = spec["paths"]["/api/v1/moderation/sites/{site_slug}/calibration/apply"]["post"]
    assert "requestBody" in apply and "200" in apply["responses"]


def test_the_host_sets_the_objective_and_auto_calibration_through_its_settings(client, site):
    host = bearer(site.test_api_key)
    response = client.patch(
        "/api/v1/sites/news/settings",
        headers=host,
        json={"calibration_objective": {"kind": "precision", "target": 0.85}, "auto_calibrate": {"enabled": True}},
    )
    assert response.status_code == 200, response.json
    settings = response.json["settings"]
    assert settings["calibration_objective"] == {"kind": "precision", "target": 0.85}
    assert settings["auto_calibrate"] == {"enabled": True, "min": 0.3, "max": 0.95, "max_step": 0.05}
    response = client.patch("/api/v1/sites/news/settings", headers=host, json={"calibration_objective": "precision"})
    assert response.status_code == 422 and "calibration_objective" in response.json["error"]["fields"]
