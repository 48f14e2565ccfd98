"""Dashboard views through the Flask test client: the queue, decisions, undo, bulk, scoping,
context pages, settings, stats, and bad input of every kind (a clean 4xx, never a 500)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from comments.models import QUEUE_VALUES, AuditEvent, Author, Comment, Site, utcnow
from comments.services.accounts import create_moderator
from comments.services.threads import rfc3339
from tests.helpers import PASSWORD, Dashboard, make_comment, set_settings


def _cards(page_html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article class="card[^"]*" id="card-(\d+)"', page_html)]


def _count(page_html: str, queue: str) -> int:
    return int(re.search(rf'data-count="{queue}">(\d+)<', page_html).group(1))


# --- the queue ------------------------------------------------------------------------------------


def test_the_held_queue_shows_each_comment_and_why_it_is_there(dashboard, held_comments):
    page = dashboard.get("/mod/")
    assert page.status_code == 200
    assert _cards(page.text) == [c.id for c in held_comments]
    assert _count(page.text, "held") == 3 and _count(page.text, "approved") == 0
    first = page.text.split(f'id="card-{held_comments[0].id}"')[1].split("</article>")[0]
    assert "<p>You are all idiots.</p>" in first  # the stored, sanitised HTML
    assert "Bob" in first and "Budget 2026" in first and "https://news.example/article-1" in first
    assert 'aria-label="score 0.93, threshold 0.70"' in first
    assert "insult" not in first.split("All scores")[0]  # 0.41 crossed no threshold: not a reason
    second = page.text.split(f'id="card-{held_comments[1].id}"')[1].split("</article>")[0]
    assert 'aria-label="score 0.88, threshold 0.70"' in second and 'aria-label="score 0.75, threshold 0.70"' in second
    third = page.text.split(f'id="card-{held_comments[2].id}"')[1].split("</article>")[0]
    assert "Suspect words" in third and "crypto" in third


def test_a_reply_shows_its_parent(dashboard, site, db):
    parent = make_comment(site, "The original point.", author="Eve")
    set_settings(site, premoderation="all")
    reply = make_comment(site, "A reply to it.", parent_id=parent.id, author="Fay", ip="192.0.2.9")
    page = dashboard.get("/mod/").text
    card = page.split(f'id="card-{reply.id}"')[1].split("</article>")[0]
    assert "In reply to <strong>Eve</strong>" in card and "The original point." in card


def test_reported_comments_show_the_reports(dashboard, api, site, db):
    set_settings(site, report_threshold=2)
    comment_id = api.post("Published, then reported").json["comment"]["id"]
    for ip, reason, note in (("198.51.100.1", "spam", "an ad"), ("198.51.100.2", "abuse", "")):
        response = api.client.post(
            f"/api/v1/comments/{comment_id}/reports",
            json={"reason": reason, "note": note},
            environ_base={"REMOTE_ADDR": ip},
        )
        assert response.status_code == 202
    page = dashboard.get("/mod/?queue=reported").text
    assert _cards(page) == [comment_id]
    assert "Report: spam" in page and "an ad" in page and "Report: abuse" in page
    assert "Enough readers reported it" in page
    assert _count(page, "reported") == 1


def test_filters_sort_and_load_more(dashboard, held_comments, db, monkeypatch):
    ids = [c.id for c in held_comments]
    assert _cards(dashboard.get("/mod/?reason=suspect_word").text) == [ids[2]]
    assert _cards(dashboard.get("/mod/?reason=threat").text) == [ids[1]]
    assert _cards(dashboard.get("/mod/?sort=score").text) == [ids[0], ids[1], ids[2]]
    assert _cards(dashboard.get("/mod/?site=news").text) == ids
    monkeypatch.setattr("comments.dashboard.views.queue.PAGE_SIZE", 2)
    first = dashboard.get("/mod/").text
    assert _cards(first) == ids[:2]
    more = re.search(r'hx-get="([^"]*cursor=[^"]+)"', first).group(1)
    rest = dashboard.get(html.unescape(more), headers={"HX-Request": "true"})
    assert rest.status_code == 200
    assert _cards(rest.text) == ids[2:]
    assert "<html" not in rest.text and "Load more" not in rest.text


# --- decisions ------------------------------------------------------------------------------------


def test_approve_publishes_and_updates_the_counts(dashboard, api, held_comments):
    comment = held_comments[0]
    response = dashboard.decide(comment.id, "approve", version=comment.version, filter_queue="held")
    assert response.status_code == 200
    assert f'id="card-{comment.id}"' in response.text and "Approved" in response.text and "Undo" in response.text
    assert 'hx-swap-oob="true"' in response.text
    assert _count(response.text, "held") == 2 and _count(response.text, "approved") == 1
    published = api.read().json["comments"]
    assert [c["id"] for c in published] == [comment.id]


def test_reject_with_a_reason_and_ban(dashboard, db, held_comments):
    first, second = held_comments[0], held_comments[1]
    response = dashboard.decide(first.id, "reject", reason="abuse", version=first.version)
    assert "Rejected (abuse or harassment)" in response.text
    assert db.session.get(Comment, first.id).status == "rejected"
    event = db.session.query(AuditEvent).filter_by(comment_id=first.id, action="rejected").one()
    assert event.reasons[-1]["reason"] == "abuse"
    banned = dashboard.decide(second.id, "ban", version=second.version)
    assert "author banned" in banned.text
    assert db.session.get(Comment, second.id).status == "rejected"
    assert db.session.query(Author).filter_by(author_key=second.author_key).one().status == "banned"


def test_without_htmx_a_decision_redirects_back_to_the_queue(dashboard, held_comments):
    comment = held_comments[0]
    response = dashboard.post(
        f"/mod/comments/{comment.id}/decision",
        {"action": "approve", "filter_queue": "held", "filter_sort": "score"},
        htmx=False,
    )
    assert response.status_code == 303
    assert response.location == "/mod/?sort=score"


def test_the_second_moderator_sees_who_decided_first(client, app, dashboard, db, held_comments):
    create_moderator("other@news.example", PASSWORD)
    db.session.commit()
    other = Dashboard(app.test_client())
    assert other.login("other@news.example").status_code == 303
    comment = held_comments[0]
    seen_version = comment.version
    assert "Approved" in dashboard.decide(comment.id, "approve", version=seen_version).text
    late = other.decide(comment.id, "reject", version=seen_version)
    assert late.status_code == 200
    assert "Already decided." in late.text and "Approved by <strong>mod@news.example</strong>" in late.text
    assert db.session.get(Comment, comment.id).status == "published"


def test_undo_returns_the_comment_to_the_queue(dashboard, db, held_comments, api):
    comment = held_comments[0]
    dashboard.decide(comment.id, "approve", version=comment.version)
    response = dashboard.post(f"/mod/comments/{comment.id}/undo", {"filter_queue": "held"})
    assert response.status_code == 200
    assert f'id="card-{comment.id}"' in response.text and "data-card" in response.text
    assert _count(response.text, "held") == 3 and _count(response.text, "approved") == 0
    restored = db.session.get(Comment, comment.id)
    assert restored.status == "held" and restored.decided_at is None
    assert api.read().json["comments"] == []
    actions = [e.action for e in db.session.query(AuditEvent).filter_by(comment_id=comment.id).order_by(AuditEvent.id)]
    assert actions[-2:] == ["approved", "decision_undone"]
    # Nothing left to undo now.
    again = dashboard.post(f"/mod/comments/{comment.id}/undo")
    assert again.status_code == 409 and "nothing to undo" in again.text


def test_undo_of_a_ban_lifts_the_ban(dashboard, db, held_comments):
    comment = held_comments[1]
    dashboard.decide(comment.id, "ban", version=comment.version)
    assert db.session.query(Author).filter_by(status="banned").count() == 1
    assert dashboard.post(f"/mod/comments/{comment.id}/undo").status_code == 200
    assert db.session.query(Author).filter_by(status="banned").count() == 0
    assert db.session.get(Comment, comment.id).status == "held"


def test_undo_of_a_reported_comment_puts_it_back_in_the_reported_queue(dashboard, db, api, site):
    set_settings(site, report_threshold=1)
    comment_id = api.post("Reported once").json["comment"]["id"]
    api.client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam"})
    dashboard.decide(comment_id, "reject")
    assert dashboard.post(f"/mod/comments/{comment_id}/undo", {"filter_queue": "reported"}).status_code == 200
    comment = db.session.get(Comment, comment_id)
    assert comment.status == "published" and comment.reported_at is not None and comment.decided_at is None
    assert _cards(dashboard.get("/mod/?queue=reported").text) == [comment_id]


def test_only_the_deciding_moderator_may_undo_and_only_for_a_while(app, dashboard, db, held_comments):
    comment = held_comments[0]
    dashboard.decide(comment.id, "approve")
    create_moderator("other@news.example", PASSWORD)
    db.session.commit()
    other = Dashboard(app.test_client())
    other.login("other@news.example")
    refused = other.post(f"/mod/comments/{comment.id}/undo")
    assert refused.status_code == 409 and "Only the moderator who decided" in refused.text
    # Age the decision past the window (the audit log refuses ORM updates: plain SQL, test only).
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET created_at = :t WHERE comment_id = :c AND action = 'approved'"),
            {"t": (utcnow() - timedelta(minutes=5)).replace(tzinfo=None), "c": comment.id},
        )
    late = dashboard.post(f"/mod/comments/{comment.id}/undo")
    assert late.status_code == 409 and "too late" in late.text
    assert db.session.get(Comment, comment.id).status == "published"


def test_bulk_decisions(dashboard, db, held_comments):
    a, b, c = held_comments
    seen = [f"{x.id}:{x.version}" for x in held_comments]  # what the page showed
    dashboard.decide(c.id, "reject")  # someone decided one before the bulk request arrives
    response = dashboard.post("/mod/bulk", {"action": "approve", "filter_queue": "held", "selected": seen})
    assert response.status_code == 200
    assert "Approved: 2." in response.text and "1 already decided" in response.text
    assert response.text.count('hx-swap-oob="outerHTML"') == 3
    assert [db.session.get(Comment, x.id).status for x in (a, b, c)] == ["published", "published", "rejected"]
    assert _count(response.text, "held") == 0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"action": "delete"},
        {"action": "approve", "selected": "x:1"},
        {"action": "approve", "selected": "1"},
        {"action": "reject", "selected": "1:1", "reason": "made-up"},
    ],
)
def test_bad_bulk_requests(dashboard, data):
    assert dashboard.post("/mod/bulk", data).status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        {"action": "publish"},
        {"action": ""},
        {"action": "approve", "version": "x"},
        {"action": "reject", "reason": "<script>"},
        {"action": "approve", "filter_queue": "nope"},
    ],
)
def test_bad_decisions_are_400(dashboard, held_comments, data):
    response = dashboard.decide(held_comments[0].id, **data)
    assert response.status_code == 400
    assert held_comments[0].status == "held"
    assert response.headers["HX-Retarget"] == "#toasts"


@pytest.mark.parametrize(
    "comment_id, message",
    [
        (999999, "No such comment."),
        # Past the 32-bit id columns no address matches: still the dashboard's own 404.
        (2**31, "Nothing is found at this address."),
        (10**20, "Nothing is found at this address."),
    ],
)
def test_deciding_an_unknown_comment_is_404(dashboard, db, comment_id, message):
    response = dashboard.decide(comment_id, "approve")
    assert response.status_code == 404
    assert message in response.text
    assert 'class="toast error"' in response.text
    assert dashboard.post(f"/mod/comments/{comment_id}/undo").status_code == 404


# --- moderators limited to some sites -----------------------------------------------------------


def test_a_moderator_limited_to_some_sites_sees_only_those(other_site_moderator, held_comments, db):
    other = db.session.query(Site).filter_by(slug="other").one()
    make_comment(other, "On the other site, published", author="Gus")
    set_settings(other, premoderation="all")
    own = make_comment(other, "Another on the other site", author="Hal", ip="192.0.2.44")
    page = other_site_moderator.get("/mod/").text
    assert _cards(page) == [own.id]
    assert _count(page, "held") == 1
    assert '<option value="news"' not in page
    news_id = held_comments[0].id
    for path in (
        f"/mod/comments/{news_id}",
        "/mod/sites/news/threads/article-1",
        "/mod/sites/news/settings",
        "/mod/?site=news",
        "/mod/stats?site=news",
        "/mod/sites/news/settings/preview",
    ):
        assert other_site_moderator.get(path).status_code == 403, path
    assert other_site_moderator.decide(news_id, "approve").status_code == 403
    assert other_site_moderator.post(f"/mod/comments/{news_id}/undo").status_code == 403
    bulk = other_site_moderator.post("/mod/bulk", {"action": "approve", "selected": f"{news_id}:2"})
    assert bulk.status_code == 403
    assert db.session.get(Comment, news_id).status == "held"
    assert other_site_moderator.get("/mod/settings").location == "/mod/sites/other/settings"


# --- context pages --------------------------------------------------------------------------------


def test_the_comment_page_shows_history_and_the_authors_other_comments(dashboard, db, site):
    earlier = make_comment(site, "An earlier word", author="Ivy", email="ivy@example.com", key="article-9")
    set_settings(site, premoderation="all")
    later = make_comment(site, "A later word", author="Ivy", email="ivy@example.com")
    dashboard.decide(later.id, "reject", reason="spam")
    page = dashboard.get(f"/mod/comments/{later.id}")
    assert page.status_code == 200
    assert "History" in page.text and "rejected" in page.text and "by moderator mod@news.example" in page.text
    assert "reason: spam" in page.text and "submitted" in page.text
    assert f"#{earlier.id}" in page.text and "An earlier word" in page.text
    assert "A later word" in page.text


def test_the_thread_view_lists_every_comment_with_its_status(dashboard, site, db):
    first = make_comment(site, "Root comment", key="politics/2026/budget", title="The budget")
    set_settings(site, premoderation="all")
    reply = make_comment(site, "Waiting reply", key="politics/2026/budget", parent_id=first.id, ip="192.0.2.77")
    page = dashboard.get("/mod/sites/news/threads/politics%2F2026%2Fbudget")
    assert page.status_code == 200
    assert "The budget" in page.text and "Root comment" in page.text and "Waiting reply" in page.text
    assert page.text.index("Root comment") < page.text.index("Waiting reply")
    assert "depth-1 status-held" in page.text and reply.status == "held"
    # Each comment's moment as the API writes it (the page's records hold datetimes).
    assert f'<time datetime="{rfc3339(reply.created_at)}"' in page.text


def test_the_queue_tabs_name_every_queue_in_order(dashboard, site, db):
    page = dashboard.get("/mod/")
    assert re.findall(r'data-queue="([a-z-]+)"', page.text) == list(QUEUE_VALUES)
    assert [name.strip() for name in re.findall(r'data-queue="[a-z]+">\s*(\w+)', page.text)] == [
        "Held",
        "Reported",
        "Rejected",
        "Approved",
    ]


@pytest.mark.parametrize(
    "path,status",
    [
        ("/mod/comments/999999", 404),
        ("/mod/comments/abc", 404),
        ("/mod/comments/99999999999999999999", 404),
        ("/mod/sites/news/threads/nope", 404),
        ("/mod/sites/nope/threads/a", 404),
        ("/mod/sites/Bad%20Slug/threads/a", 404),
        ("/mod/sites/nope/settings", 404),
        ("/mod/?queue=everything", 400),
        ("/mod/?sort=random", 400),
        ("/mod/?reason=a%25", 400),
        ("/mod/?site=Bad%20Slug", 400),
        ("/mod/?site=nope", 404),
        ("/mod/?cursor=zzz", 422),
        ("/mod/?cursor=" + "a" * 300, 400),
        ("/mod/stats?site=%00", 400),
        ("/mod/counts?queue=x", 400),
        ("/mod/nothing-here", 404),
        ("/mod/sites/news/threads/a%00b", 404),
    ],
)
def test_bad_addresses_get_a_clean_error_page(dashboard, site, path, status):
    response = dashboard.get(path)
    assert response.status_code == status, response.text[:500]
    assert "<html" in response.text.lower()
    assert "/mod/static/dashboard.css" in response.text  # the dashboard's own page, not Werkzeug's


# --- settings -------------------------------------------------------------------------------------


def test_settings_page_previews_and_saves_through_update_settings(dashboard, db, site):
    for i, toxicity in enumerate((0.95, 0.75, 0.55, 0.2)):
        make_comment(site, f"scored comment {i}", scores={"toxicity": toxicity}, ip=f"192.0.2.{100 + i}")
    page = dashboard.get("/mod/sites/news/settings")
    assert page.status_code == 200
    assert 'data-held="toxicity">2<' in page.text and "Of the last <strong>4</strong>" in page.text
    preview = dashboard.get("/mod/sites/news/settings/preview?threshold_toxicity=0.5", headers={"HX-Request": "true"})
    assert 'data-held="toxicity">3<' in preview.text
    saved = dashboard.post(
        "/mod/sites/news/settings",
        {
            "threshold_toxicity": "0.5",
            "threshold_insult": "0.8",
            "premoderation": "first-comment",
            "banned_words": "Spam\nscam\n\nspam",
            "suspect_words": "crypto",
            "failure_policy": "publish",
            "present_shadow_mode": "1",
            "shadow_mode": "on",
        },
        htmx=False,
    )
    assert saved.status_code == 303 and saved.location.endswith("saved=1")
    settings = db.session.get(Site, site.id).settings
    assert settings["thresholds"] == {"toxicity": 0.5, "insult": 0.8}
    assert settings["premoderation"] == "first-comment" and settings["banned_words"] == ["spam", "scam"]
    assert settings["failure_policy"] == "publish" and settings["shadow_mode"] is True
    event = db.session.query(AuditEvent).filter_by(action="settings_changed").one()
    assert event.actor_type == "moderator"
    assert dashboard.get(saved.location).text.count("Saved.") == 1
    # Unchecking shadow mode turns it off.
    dashboard.post("/mod/sites/news/settings", {"present_shadow_mode": "1"}, htmx=False)
    assert db.session.get(Site, site.id).settings["shadow_mode"] is False


@pytest.mark.parametrize(
    "data,field",
    [
        ({"threshold_toxicity": "1.5"}, "threshold_toxicity"),
        ({"threshold_toxicity": "abc"}, "threshold_toxicity"),
        ({"premoderation": "sometimes"}, "premoderation"),
        ({"failure_policy": "panic"}, "failure_policy"),
        ({"banned_words": "x" * 101}, "banned_words"),
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_saved(dashboard, db, site, data, field):
    response = dashboard.post("/mod/sites/news/settings", data, htmx=False)
    assert response.status_code == 422
    assert "nothing was saved" in response.text
    assert f'class="field-error" id="{field}-error"' in response.text
    assert db.session.get(Site, site.id).settings == {}


# --- stats ----------------------------------------------------------------------------------------


def test_stats_count_decisions_and_waiting_items(dashboard, held_comments):
    dashboard.decide(held_comments[0].id, "approve")
    dashboard.decide(held_comments[1].id, "reject")
    page = dashboard.get("/mod/stats")
    assert page.status_code == 200
    today = re.search(r'<tr><th scope="row">[^<]+</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>', page.text)
    assert today.groups() == ("3", "1", "1")
    assert re.search(r'data-figure="waiting">1<', page.text)
    assert f"/mod/comments/{held_comments[2].id}" in page.text  # the oldest waiting item
    assert "2 decisions" in page.text


# --- XSS ------------------------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every element and attribute of a page, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def _unsafe(page_html: str) -> list[str]:
    parser = _Elements()
    parser.feed(page_html)
    found = []
    for tag, attrs in parser.elements:
        if tag in ("script", "iframe", "object", "embed", "img", "video", "base", "math", "style") and not (
            tag == "script" and (attrs.get("src") or "").startswith("/mod/static/")
        ):
            found.append(tag)
        for name, value in attrs.items():
            if name.startswith("on") or (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                found.append(f"{tag} {name}={value}")
        if tag == "meta" and "http-equiv" in attrs:
            found.append("meta http-equiv")
        if tag in ("input", "details", "form") and ("autofocus" in attrs and tag != "input" or "open" in attrs):
            found.append(tag)
    return found


def test_payloads_never_reach_the_page_as_markup(dashboard, site, db):
    from tests.helpers import XSS_PAYLOADS as PAYLOADS

    set_settings(site, premoderation="all")
    ids = []
    for i, payload in enumerate(PAYLOADS):
        ids.append(
            make_comment(
                site,
                payload,
                author=f"<img src=x onerror=alert({i})>",
                ip=f"10.0.{i}.1",
                key=f"<script>alert({i})</script>",
                title=f"<svg onload=alert({i})>",
            ).id
        )
    pages = [
        dashboard.get("/mod/?sort=newest").text,
        dashboard.get("/mod/").text,
        dashboard.get(f"/mod/comments/{ids[0]}").text,
        dashboard.get(f"/mod/comments/{ids[-1]}").text,
    ]
    for page_html in pages:
        assert "<script>alert" not in page_html
        assert _unsafe(page_html) == []
    assert "&lt;img src=x onerror=alert(0)&gt;" in pages[1]  # the author name, shown as text


def test_a_database_failure_gets_a_clear_page(dashboard, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr("comments.dashboard.views.queue.list_queue", down)
    response = dashboard.get("/mod/")
    assert response.status_code == 503
    assert "Database unavailable" in response.text and response.headers["Retry-After"] == "5"
