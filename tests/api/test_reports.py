"""Reader reports: distinct readers, the threshold, the comment stays visible."""

from __future__ import annotations

import pytest

from comments.models import AuditEvent, Comment, Report
from tests.helpers import set_settings


def _report(client, comment_id, ip, reason="abuse", **extra):
    return client.post(
        f"/api/v1/comments/{comment_id}/reports", json={"reason": reason, **extra}, environ_base={"REMOTE_ADDR": ip}
    )


@pytest.fixture()
def comment_id(api):
    return api.post("controversial take").json["comment"]["id"]


def test_a_report_is_accepted(client, db, comment_id):
    response = _report(client, comment_id, "198.51.100.1", "spam", note="link farm")
    assert response.status_code == 202
    report = db.session.query(Report).one()
    assert (report.reason, report.note) == ("spam", "link farm")
    assert "198.51.100.1" not in report.reporter_hash


def test_three_distinct_readers_queue_it_for_review_and_it_stays_visible(api, client, db, comment_id):
    for ip in ["198.51.100.1", "198.51.100.1", "198.51.100.2"]:
        _report(client, comment_id, ip)
    assert db.session.get(Comment, comment_id).reported_at is None  # two distinct readers so far
    _report(client, comment_id, "198.51.100.3", "offensive")
    db.session.expire_all()
    comment = db.session.get(Comment, comment_id)
    assert comment.reported_at is not None
    assert comment.report_count == 3
    assert comment.status == "published"
    assert len(api.read().json["comments"]) == 1
    actions = [e.action for e in db.session.query(AuditEvent).filter_by(comment_id=comment_id).order_by(AuditEvent.id)]
    assert actions.count("reported") == 3 and actions.count("queued_for_review") == 1


def test_report_threshold_is_a_site_setting(client, db, site, comment_id):
    set_settings(site, report_threshold=1)
    _report(client, comment_id, "198.51.100.9")
    assert db.session.get(Comment, comment_id).reported_at is not None


@pytest.mark.parametrize(
    "payload",
    [
        {"reason": "boring"},
        {},
        {"reason": "spam", "note": "x" * 1001},
        {"reason": "spam", "extra": 1},
        {"reason": "spam", "note": "bad \x00"},
    ],
)
def test_bad_reports_are_422(client, comment_id, payload):
    response = client.post(f"/api/v1/comments/{comment_id}/reports", json=payload)
    assert response.status_code == 422
    assert response.json["error"]["code"]


def test_reporting_a_missing_or_unpublished_comment_is_404(api, client, site):
    assert _report(client, 999, "198.51.100.1").status_code == 404
    set_settings(site, premoderation="all")
    held = api.post("held one", "Bob").json["comment"]["id"]
    assert _report(client, held, "198.51.100.1").status_code == 404
