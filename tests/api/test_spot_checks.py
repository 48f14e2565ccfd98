"""The moderation API's spot checks: the queue (queue=spot-check) and the answer, end to end."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from comments.models import AuditEvent, CalibrationEvidence, Comment, SpotCheck
from comments.security import make_edit_token
from comments.services.calibration import evidence
from comments.services.review import queue
from comments.services.sites import create_site
from tests.helpers import PASSWORD, make_comment

NEAR = {"toxicity": 0.6}


@pytest.fixture()
def auth(client, moderator):
    token = client.post("/api/v1/auth/token", json={"email": "mod@news.example", "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def drawn(db, site):
    """Three machine-published comments, each drawn for a check (oldest first)."""
    evidence.sampler = SimpleNamespace(random=lambda: 0.0)
    return [make_comment(site, f"almost rude {i}", scores=NEAR, ip=f"192.0.2.{i}").id for i in range(3)]


def _queue(client, auth, **params):
    response = client.get("/api/v1/moderation/queue", query_string={"queue": "spot-check", **params}, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def _answer(client, auth, comment_id, **body):
    return client.post(f"/api/v1/moderation/comments/{comment_id}/spot-check", json=body, headers=auth)


def test_the_queue_lists_unanswered_checks_oldest_first_with_the_check(client, auth, drawn):
    page = _queue(client, auth)
    assert [item["comment"]["id"] for item in page["items"]] == drawn
    item = page["items"][0]
    assert item["queue"] == "spot-check"
    assert item["spot_check"]["band"] == "edge"
    assert 0 < item["spot_check"]["probability"] <= 1 and item["spot_check"]["created_at"].endswith("Z")
    assert item["comment"]["scores"]["toxicity"] == pytest.approx(0.6)
    assert item["arrived_at"] == item["spot_check"]["created_at"]
    # The same comment in another queue carries no check.
    _answer(client, auth, drawn[0], verdict="should_have_been_held", remove=True)
    rejected = client.get("/api/v1/moderation/queue", query_string={"queue": "rejected"}, headers=auth).json
    assert [(i["comment"]["id"], i["spot_check"]) for i in rejected["items"]] == [(drawn[0], None)]


def test_the_queue_pages_and_counts_with_the_others(client, moderator, auth, drawn):
    assert queue.queue_counts(moderator)["spot-check"] == 3
    assert queue.queue_counts(moderator, reason="toxicity")["spot-check"] == 0  # not held for it
    first = _queue(client, auth, limit=2)
    rest = _queue(client, auth, limit=2, cursor=first["next_cursor"])
    assert [i["comment"]["id"] for i in first["items"] + rest["items"]] == drawn and rest["next_cursor"] is None
    newest = _queue(client, auth, sort="newest", limit=1)
    assert newest["items"][0]["comment"]["id"] == drawn[-1]
    by_score = _queue(client, auth, sort="score")
    assert sorted(i["comment"]["id"] for i in by_score["items"]) == drawn
    bad = client.get(
        "/api/v1/moderation/queue",
        query_string={"queue": "spot-check", "cursor": first["next_cursor"], "sort": "newest"},
        headers=auth,
    )
    assert bad.status_code == 422  # another sort's cursor


def test_answering_takes_the_check_out_of_the_queue_and_is_audited(client, db, auth, drawn):
    response = _answer(client, auth, drawn[0], verdict="fine")
    assert response.status_code == 200, response.json
    answered = response.json["spot_check"]
    assert answered["verdict"] == "fine" and answered["answered_by"]["type"] == "moderator"
    assert answered["answered_at"].endswith("Z") and answered["comment_id"] == drawn[0]
    assert response.json["comment"]["status"] == "published"
    assert [i["comment"]["id"] for i in _queue(client, auth)["items"]] == drawn[1:]
    event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "spot_checked")).scalar_one()
    assert event.comment_id == drawn[0] and event.reasons[0]["code"] == "fine"
    rows = db.session.execute(select(CalibrationEvidence).where(CalibrationEvidence.comment_id == drawn[0])).scalars()
    assert {(row.source, row.bad) for row in rows} == {("spot_check", False)}


def test_should_have_been_held_and_removed_is_a_rejection_like_any_other(client, db, auth, drawn):
    response = _answer(client, auth, drawn[1], verdict="should_have_been_held", remove=True, reason="abuse")
    assert response.status_code == 200, response.json
    assert response.json["comment"]["status"] == "rejected"
    actions = db.session.execute(
        select(AuditEvent.action).where(AuditEvent.comment_id == drawn[1]).order_by(AuditEvent.id)
    ).scalars()
    assert list(actions)[-2:] == ["spot_checked", "rejected"]
    thread = client.get("/api/v1/sites/news/threads/article-1/comments").json
    assert drawn[1] not in [c["id"] for c in thread["comments"]]


def test_the_second_answer_is_a_conflict(client, auth, drawn):
    assert _answer(client, auth, drawn[0], verdict="fine").status_code == 200
    late = _answer(client, auth, drawn[0], verdict="should_have_been_held")
    assert late.status_code == 409
    assert late.json["error"]["code"] == "already_answered"
    assert late.json["error"]["current"]["verdict"] == "fine"


def test_two_answers_at_once_one_wins(app, client, auth, drawn):
    barrier = threading.Barrier(2)
    results = []

    def answer(verdict):
        barrier.wait()
        with app.app_context():
            response = app.test_client().post(
                f"/api/v1/moderation/comments/{drawn[0]}/spot-check", json={"verdict": verdict}, headers=auth
            )
            results.append(response.status_code)

    threads = [threading.Thread(target=answer, args=(v,)) for v in ("fine", "should_have_been_held")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"verdict": "ok"},
        {"verdict": "fine", "remove": True},
        {"verdict": "fine", "extra": 1},
        {"verdict": "should_have_been_held", "remove": "yes please"},
        {"verdict": "should_have_been_held", "reason": "x" * 501},
    ],
)
def test_bad_answers_are_422(client, auth, drawn, body):
    response = _answer(client, auth, drawn[0], **body)
    assert response.status_code == 422 and response.json["error"]["fields"]


def test_no_check_is_404_and_another_sites_is_refused(client, db, auth, site, drawn):
    assert _answer(client, auth, 999999, verdict="fine").status_code == 404
    not_drawn = make_comment(site, "not drawn", ip="192.0.2.99")  # no scores: never drawn
    missing = _answer(client, auth, not_drawn.id, verdict="fine")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "spot_check_not_found"
    other, _ = create_site("other", ["https://other.example"])
    db.session.commit()
    theirs = make_comment(other, "almost rude elsewhere", scores=NEAR).id
    from comments.services.accounts import create_moderator

    create_moderator("news-only@news.example", PASSWORD, ["news"])
    db.session.commit()
    token = client.post("/api/v1/auth/token", json={"email": "news-only@news.example", "password": PASSWORD}).json
    scoped = {"Authorization": f"Bearer {token['token']}"}
    assert _answer(client, scoped, theirs, verdict="fine").status_code in (403, 404)
    assert theirs not in [i["comment"]["id"] for i in _queue(client, scoped)["items"]]
    assert theirs in [i["comment"]["id"] for i in _queue(client, auth)["items"]]  # an all-sites moderator's
    assert _queue(client, auth, site="other")["items"][0]["comment"]["id"] == theirs


def test_a_comment_its_author_deleted_drops_out_and_cannot_be_answered(client, db, auth, drawn):
    comment = db.session.get(Comment, drawn[0])
    token = make_edit_token(comment.id, comment.edit_nonce)
    assert client.delete(f"/api/v1/comments/{comment.id}", headers={"X-Edit-Token": token}).status_code == 204
    assert [i["comment"]["id"] for i in _queue(client, auth)["items"]] == drawn[1:]
    counts_check = db.session.get(SpotCheck, drawn[0])
    assert counts_check is not None and counts_check.verdict is None
    response = _answer(client, auth, drawn[0], verdict="fine")
    assert response.status_code == 409 and response.json["error"]["code"] == "not_decidable"


def test_a_host_key_with_the_moderate_scope_answers_its_sites_checks(client, db, site, drawn):
    host = {"Authorization": f"Bearer {site.test_api_key}"}
    created = client.post("/api/v1/sites/news/keys", headers=host, json={"label": "mods", "scopes": ["moderate"]})
    moderate = {"Authorization": f"Bearer {created.json['api_key']}"}
    assert [i["comment"]["id"] for i in _queue(client, moderate)["items"]] == drawn
    response = _answer(client, moderate, drawn[0], verdict="should_have_been_held")
    assert response.status_code == 200, response.json
    assert response.json["spot_check"]["answered_by"]["type"] == "host"
    row = db.session.execute(select(CalibrationEvidence).where(CalibrationEvidence.comment_id == drawn[0])).scalars()
    assert {(r.source, r.bad, r.decider_type) for r in row} == {("spot_check", True, "host")}


def test_the_openapi_document_has_the_queue_and_the_answer(client):
    spec = client.get("/api/v1/openapi.json").json
    answer = spec["paths"]["/api/v1/moderation/comments/{comment_id}/spot-check"]["post"]
    assert {"200", "404", "409", "422"} <= set(answer["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["SpotCheckAnswer"]["properties"]["verdict"]["enum"] == ["fine", "should_have_been_held"]
    assert "spot_check" in schemas["QueueItem"]["properties"]
