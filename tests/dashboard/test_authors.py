"""The author panel (``dashboard/views/authors.py``) through the Flask test client: what it shows,
paging, each status change and its audit entry, bad input, CSRF, site scoping, and the queue's
author filter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from comments.models import AuditEvent, Author, AuthorStatus, Comment, Site, utcnow
from comments.services import readers
from tests.helpers import Dashboard, make_comment, set_settings, signed_in


def _cards(page_html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article class="card[^"]*" id="card-(\d+)"', page_html)]


def _panel_comments(page_html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="author-comment">\s*<a href="/mod/comments/(\d+)"', page_html)]


def _author(db, author_id: int) -> Author:
    db.session.expire_all()  # the view changed it in its own unit of work
    return db.session.get(Author, author_id)


@pytest.fixture()
def jane(db, site) -> Comment:
    """A signed-in reader's held comment (two badges), after an earlier one under another name."""
    make_comment(site, "An earlier word.", reader=signed_in("u-17", "Jane", ["subscriber"]), key="article-0")
    set_settings(site, premoderation="all")
    comment = make_comment(
        site, "A word for the moderators.", reader=signed_in("u-17", "Jane Doe", ["subscriber", "staff"])
    )
    assert comment.status == "held" and comment.author_id is not None
    return comment


# --- the panel ------------------------------------------------------------------------------------


def test_the_panel_shows_the_person(dashboard, db, jane):
    page = dashboard.get(f"/mod/authors/{jane.author_id}")
    assert page.status_code == 200
    text = page.text
    assert '<h1 id="author-panel-title" class="author-name">Jane Doe' in text
    assert '<span class="pill">subscriber</span> <span class="pill">staff</span>' in text
    assert 'class="verified"' in text and "signed in with the site's account" in text
    assert '<span class="badge astatus-active">active</span>' in text
    assert "first seen <time" in text and "last seen <time" in text
    assert re.search(r'data-count-status="held">1<', text) and re.search(r'data-count-status="published">1<', text)
    assert re.search(r"data-reports>0<", text)
    names = text.split('id="author-names-title"')[1].split("</ul>")[0]
    assert names.index("<strong>Jane Doe</strong>") < names.index("<strong>Jane</strong>")  # newest first
    earlier = db.session.query(Comment).filter(Comment.id != jane.id).one()
    assert _panel_comments(text) == [jane.id, earlier.id]
    assert '<span class="badge status-held">held</span>' in text
    assert 'href="/mod/sites/news/threads/article-0"' in text
    # The keys are written in the panel, beside the buttons they press.
    for key, words in (("a", "Active"), ("p", "Pre-moderate"), ("s", "Suspend"), ("b", "Ban")):
        assert f'data-status-key="{key}"' in text and f">{words} <kbd" in text
    assert f'href="/mod/?author={jane.author_id}" data-author-queue' in text


def test_in_a_drawer_the_panel_is_a_fragment(dashboard, jane):
    page = dashboard.get(f"/mod/authors/{jane.author_id}", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert page.text.lstrip().startswith('<section id="author-panel"')
    assert "<html" not in page.text and '<h2 id="author-panel-title"' in page.text
    assert '<input type="hidden" name="view" value="drawer">' in page.text


def test_an_anonymous_author_is_known_by_their_email(dashboard, site, db):
    comment = make_comment(site, "Plain words", author="Kim", email="kim@example.com")
    text = dashboard.get(f"/mod/authors/{comment.author_id}").text
    assert "anonymous: known by email" in text and 'class="verified"' not in text
    assert '<h1 id="author-panel-title" class="author-name">Kim</h1>' in text


def test_the_comments_come_a_page_at_a_time(dashboard, site, db, monkeypatch):
    monkeypatch.setattr("comments.dashboard.views.authors.PANEL_PAGE", 2)
    ids = [make_comment(site, f"Comment number {i}", author="Lou", email="lou@example.com").id for i in range(5)]
    author_id = db.session.get(Comment, ids[0]).author_id
    first = dashboard.get(f"/mod/authors/{author_id}").text
    assert _panel_comments(first) == [ids[4], ids[3]]
    more = re.search(r'hx-get="(/mod/authors/\d+\?cursor=[^"]+)"', first).group(1)
    second = dashboard.get(more, headers={"HX-Request": "true"})
    assert second.status_code == 200 and "author-panel" not in second.text  # only the rows and the next "More"
    assert _panel_comments(second.text) == [ids[2], ids[1]]
    last = re.search(r'hx-get="(/mod/authors/\d+\?cursor=[^"]+)"', second.text).group(1)
    third = dashboard.get(last, headers={"HX-Request": "true"}).text
    assert _panel_comments(third) == [ids[0]] and "data-author-more" not in third
    # Without scripts, "More" is a page of its own.
    assert _panel_comments(dashboard.get(more).text) == [ids[2], ids[1]]


@pytest.mark.parametrize(
    "path,status",
    [
        ("/mod/authors/999999", 404),
        ("/mod/authors/0", 404),
        ("/mod/authors/-1", 404),
        ("/mod/authors/abc", 404),
        ("/mod/authors/1e3", 404),
        ("/mod/authors/01", 404),
        ("/mod/authors/99999999999999999999", 404),
        ("/mod/authors/{id}?cursor=zzz", 422),
        ("/mod/authors/{id}?cursor=" + "a" * 300, 400),
    ],
)
def test_bad_addresses_get_a_clean_error_page(dashboard, jane, path, status):
    response = dashboard.get(path.format(id=jane.author_id))
    assert response.status_code == status, response.text[:300]
    assert "/mod/static/dashboard.css" in response.text  # the dashboard's page, not Werkzeug's


def test_logged_out_the_panel_asks_for_a_login(client, jane):
    response = client.get(f"/mod/authors/{jane.author_id}")
    assert response.status_code == 302 and "/mod/login" in response.location
    assert client.post(f"/mod/authors/{jane.author_id}/status", data={"status": "banned"}).status_code == 403


# --- status changes ---------------------------------------------------------------------------------


def _set(dashboard: Dashboard, author_id: int, **form):
    return dashboard.post(f"/mod/authors/{author_id}/status", form)


@pytest.mark.parametrize(
    "duration,days", [("1d", 1), ("7d", 7), ("30d", 30)], ids=["one-day", "seven-days", "thirty-days"]
)
def test_suspend_for_a_chosen_time(dashboard, db, jane, duration, days):
    before = utcnow()
    response = _set(dashboard, jane.author_id, status="suspended", duration=duration, reason="Flooding")
    assert response.status_code == 200
    author = _author(db, jane.author_id)
    assert author.status == AuthorStatus.SUSPENDED and author.status_reason == "Flooding"
    assert before + timedelta(days=days) <= author.status_until <= utcnow() + timedelta(days=days)
    assert "Suspended until" in response.text and 'class="badge astatus-suspended">suspended until' in response.text
    # The answer carries what the cards of this author on the page take on.
    template = response.text.split("<template data-author-state-template")[1].split("</template>")[0]
    assert "suspended until" in template


@pytest.mark.parametrize("duration", ["date", "1d"])  # a day filled in wins over the list's default
def test_suspend_until_a_day(dashboard, db, jane, duration):
    day = (utcnow() + timedelta(days=12)).date()
    response = _set(dashboard, jane.author_id, status="suspended", duration=duration, until_date=day.isoformat())
    assert response.status_code == 200
    until = _author(db, jane.author_id).status_until
    assert (until.date(), until.hour, until.minute, until.tzinfo is not None) == (day, 0, 0, True)


@pytest.mark.parametrize("status", ["premod", "banned", "active"])
def test_each_status_is_set_and_audited(dashboard, db, jane, moderator, status):
    _set(dashboard, jane.author_id, status="suspended", duration="1d")  # so that "active" is a change too
    response = _set(dashboard, jane.author_id, status=status, reason=f"Because: {status}")
    assert response.status_code == 200
    author = _author(db, jane.author_id)
    assert (author.status, author.status_until, author.status_reason) == (status, None, f"Because: {status}")
    assert re.search(r'aria-pressed="true">\w', response.text)  # the button of the status in force
    event = (
        db.session.query(AuditEvent).filter_by(action="author_status_changed").order_by(AuditEvent.id.desc()).first()
    )
    assert (event.actor_type, event.actor_id, event.site_id) == ("moderator", str(moderator.id), jane.site_id)
    assert event.reasons[0]["from"] == "suspended" and event.reasons[0]["to"] == status
    assert event.reasons[0]["reason"] == f"Because: {status}"


def test_premod_holds_the_authors_next_comment(dashboard, db, site):
    first = make_comment(site, "Fine words.", reader=signed_in("u-3", "Mo"))
    assert first.status == "published"
    _set(dashboard, first.author_id, status="premod")
    second = make_comment(site, "More fine words.", reader=signed_in("u-3", "Mo"), key="article-2")
    assert second.status == "held" and "author_premod" in second.reason_codes


def test_without_scripts_a_change_returns_to_the_panel(dashboard, db, jane):
    response = dashboard.post(f"/mod/authors/{jane.author_id}/status", {"status": "banned"}, htmx=False)
    assert response.status_code == 303 and response.location == f"/mod/authors/{jane.author_id}"
    assert _author(db, jane.author_id).status == AuthorStatus.BANNED


def test_on_the_page_the_panel_answers_as_the_page(dashboard, jane):
    response = _set(dashboard, jane.author_id, status="premod", view="page")
    assert '<h1 id="author-panel-title"' in response.text and 'name="view" value="page"' in response.text


def test_a_change_without_the_csrf_token_is_refused(dashboard, db, jane):
    for form in ({"status": "banned"}, {"status": "banned", "csrf_token": "forged"}):
        response = dashboard.post(f"/mod/authors/{jane.author_id}/status", form, csrf=False)
        assert response.status_code == 403 and "Form expired" in response.text
    assert _author(db, jane.author_id).status == AuthorStatus.ACTIVE


@pytest.mark.parametrize(
    "form,message",
    [
        ({"status": "suspended", "duration": "date", "until_date": ""}, "Choose the day"),
        ({"status": "suspended", "duration": "date"}, "Choose the day"),
        ({"status": "suspended", "duration": "date", "until_date": "2027-02-30"}, "does not exist"),
        ({"status": "suspended", "duration": "date", "until_date": "2027-1-5"}, "Choose the day"),
        ({"status": "suspended", "duration": "date", "until_date": "2027-01-05T10:00:00Z"}, "Choose the day"),
        ({"status": "suspended", "duration": "date", "until_date": "９９９９-01-01"}, "Choose the day"),
        ({"status": "suspended", "duration": "2d"}, "how long"),
        ({"status": "asleep"}, "The status is"),
        ({"status": ""}, "The status is"),
        ({}, "The status is"),
        ({"status": "banned", "reason": "x" * 501}, "at most 500"),
    ],
)
def test_bad_changes_are_refused_and_nothing_changes(dashboard, db, jane, form, message):
    response = _set(dashboard, jane.author_id, **form)
    assert response.status_code == 400, response.text[:300]
    assert message in response.text and 'class="toast error"' in response.text
    author = _author(db, jane.author_id)
    assert (author.status, author.status_until) == (AuthorStatus.ACTIVE, None)
    assert db.session.query(AuditEvent).filter_by(action="author_status_changed").count() == 0


@pytest.mark.parametrize(
    "until_date,message",
    [
        ("2020-01-01", "must end in the future"),
        ("{today}", "must end in the future"),
        ("{ten_years_on}", "at most ten years"),
        ("9999-12-31", "at most ten years"),
    ],
)
def test_a_suspension_end_the_api_would_refuse_is_refused_by_the_same_rule(dashboard, db, jane, until_date, message):
    """readers.check_status_change: the API's 422 (fields.until), the dashboard's toast."""
    today = utcnow().date()
    ten_years_on = (today + readers.LONGEST_SUSPENSION + timedelta(days=1)).isoformat()
    until_date = until_date.format(today=today.isoformat(), ten_years_on=ten_years_on)
    response = _set(dashboard, jane.author_id, status="suspended", duration="date", until_date=until_date)
    assert response.status_code == 422, response.text[:300]
    assert message in response.text and 'class="toast error"' in response.text
    author = _author(db, jane.author_id)
    assert (author.status, author.status_until) == (AuthorStatus.ACTIVE, None)
    assert db.session.query(AuditEvent).filter_by(action="author_status_changed").count() == 0


def test_a_suspension_of_almost_ten_years_is_taken(dashboard, db, jane):
    until = utcnow().date() + readers.LONGEST_SUSPENSION - timedelta(days=1)
    response = _set(dashboard, jane.author_id, status="suspended", duration="date", until_date=until.isoformat())
    assert response.status_code == 200, response.text[:300]
    assert _author(db, jane.author_id).status == AuthorStatus.SUSPENDED


def test_changing_an_unknown_author_is_404(dashboard, db):
    assert _set(dashboard, 424242, status="banned").status_code == 404
    assert _set(dashboard, "x1", status="banned").status_code == 404


# --- moderators limited to some sites -----------------------------------------------------------------


def test_a_moderator_of_other_sites_cannot_see_or_change_the_author(other_site_moderator, db, jane):
    # As for an unknown author: they learn nothing of who comments on sites they do not moderate.
    panel = other_site_moderator.get(f"/mod/authors/{jane.author_id}")
    assert panel.status_code == 404 and "Jane" not in panel.text
    assert other_site_moderator.get(f"/mod/?author={jane.author_id}").status_code == 404
    refused = _set(other_site_moderator, jane.author_id, status="banned")
    assert refused.status_code == 404 and "Jane" not in refused.text
    assert _author(db, jane.author_id).status == AuthorStatus.ACTIVE
    # Their own site's authors they see.
    other = db.session.query(Site).filter_by(slug="other").one()
    own = make_comment(other, "On the other site", reader=signed_in("u-17", "Jane on other"))
    assert own.author_id != jane.author_id  # the same host user is another person on another site
    assert other_site_moderator.get(f"/mod/authors/{own.author_id}").status_code == 200
    assert _set(other_site_moderator, own.author_id, status="premod").status_code == 200


# --- the queue: cards and the author filter -------------------------------------------------------------


def test_the_queue_filters_by_author_with_a_removable_chip(dashboard, db, site, jane):
    other = make_comment(site, "Someone else's words", author="Ned", ip="192.0.2.77")
    assert _cards(dashboard.get("/mod/").text) == [jane.id, other.id]
    page = dashboard.get(f"/mod/?author={jane.author_id}&sort=newest").text
    assert _cards(page) == [jane.id]
    chip = page.split("data-author-chip")[1].split("</span>")[0]
    assert f'href="/mod/authors/{jane.author_id}">Jane Doe</a>' in chip
    assert 'href="/mod/?sort=newest" aria-label="Remove the author filter"' in chip
    # The tabs, the filters' form and the decisions keep the filter.
    assert f"/mod/?queue=approved&amp;sort=newest&amp;author={jane.author_id}" in page
    assert f'<input type="hidden" name="author" value="{jane.author_id}">' in page
    assert f'name="filter_author" value="{jane.author_id}"' in page
    assert re.search(r'data-count="published">0<|data-count="held">1<', page)


@pytest.mark.parametrize("value,status", [("abc", 400), ("0", 400), ("99999999999", 400), ("424242", 404)])
def test_a_bad_author_filter_is_refused(dashboard, jane, value, status):
    assert dashboard.get(f"/mod/?author={value}").status_code == status


def test_a_decision_under_the_author_filter_counts_their_comments(dashboard, db, site, jane):
    make_comment(site, "Someone else's words", author="Ned", ip="192.0.2.77")
    response = dashboard.decide(jane.id, "approve", filter_author=str(jane.author_id))
    assert response.status_code == 200
    assert re.search(r'data-count="held">0<', response.text)  # Ned's held comment is not theirs


def test_cards_show_the_person_behind_the_comment(dashboard, db, site, jane):
    anonymous = make_comment(site, "Someone else's words", author="Ned", ip="192.0.2.77")
    _set(dashboard, jane.author_id, status="suspended", duration="7d")
    page = dashboard.get("/mod/").text
    card = page.split(f'id="card-{jane.id}"')[1].split("</article>")[0]
    assert f'href="/mod/authors/{jane.author_id}"' in card and f'hx-get="/mod/authors/{jane.author_id}"' in card
    assert 'hx-target="#author-drawer-body"' in card and 'aria-keyshortcuts="i"' in card
    assert '<span class="pill">subscriber</span> <span class="pill">staff</span>' in card
    assert 'class="verified"' in card
    assert f'data-author-state="{jane.author_id}"><span class="badge astatus-suspended">suspended until' in card
    plain = page.split(f'id="card-{anonymous.id}"')[1].split("</article>")[0]
    assert 'class="verified"' not in plain and 'class="pill"' not in plain
    assert f'data-author-state="{anonymous.author_id}"></span>' in plain  # active: nothing shown
    assert '<dialog id="author-drawer"' in page


@pytest.mark.parametrize("status,shown", [("premod", "premod"), ("banned", "banned"), ("active", "")])
def test_a_cards_status_pill_names_the_status(dashboard, db, jane, status, shown):
    _set(dashboard, jane.author_id, status="premod" if status == "active" else "active")
    _set(dashboard, jane.author_id, status=status)
    card = dashboard.get("/mod/").text.split(f'id="card-{jane.id}"')[1].split("</article>")[0]
    state = card.split(f'data-author-state="{jane.author_id}">')[1].split('<span class="on">')[0]
    assert re.sub(r"<[^>]+>", "", state).strip() == shown
