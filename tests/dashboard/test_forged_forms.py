"""Forged dashboard input (forms, cursors, addresses): the dashboard's own 4xx page, never a 500,
and nothing decided or saved."""

from __future__ import annotations

import base64

import pytest

from comments.models import Comment, Site

# "²".isdigit() is true and int("²") raises; int() takes "١٢", "1_0" and spaces.
BAD_NUMBERS = [
    "\u00b2",
    "\u2460",
    "\u0661\u0662",
    "\uff11",
    "1_0",
    " 1",
    "1 ",
    "+1",
    "-1",
    "1.0",
    "",
    str(2**31),
    str(2**64),
    "9" * 40,
]


def _is_clean_page(response, status: int | tuple[int, ...]) -> bool:
    statuses = status if isinstance(status, tuple) else (status,)
    return response.status_code in statuses and response.mimetype == "text/html"


def test_decision_versions_must_be_ascii_numbers(dashboard, db, held_comments):
    comment = held_comments[0]
    for version in BAD_NUMBERS:
        if version == "":
            continue  # no version: decide whatever is waiting (the form's documented default)
        response = dashboard.decide(comment.id, "approve", version=version)
        assert _is_clean_page(response, 400), (version, response.status_code)
    db.session.expire_all()
    assert db.session.get(Comment, comment.id).status == "held"


def test_bulk_selections_must_be_ascii_numbers(dashboard, db, held_comments):
    comment = held_comments[0]
    good = f"{comment.id}:{comment.version}"
    forged = [f"{comment.id}:{n}" for n in BAD_NUMBERS] + [f"{n}:{comment.version}" for n in BAD_NUMBERS]
    forged += [str(comment.id), f"{comment.id}:{comment.version}:1", f"0:{comment.version}", ":"]
    for value in forged:
        response = dashboard.post("/mod/bulk", {"action": "approve", "selected": [good, value]})
        assert _is_clean_page(response, 400), (value, response.status_code)
    db.session.expire_all()
    assert db.session.get(Comment, comment.id).status == "held"


@pytest.mark.parametrize(
    "value", ["nan", "NaN", "inf", "-inf", "infinity", "1e-1", "\u0660.\u0665", "0_5", "-0.5", "0x1", ".", "1.2.3"]
)
def test_threshold_fields_are_plain_decimals(dashboard, db, site, value):
    response = dashboard.post("/mod/sites/news/settings", {"threshold_toxicity": value}, htmx=False)
    assert _is_clean_page(response, 422), (value, response.status_code)
    assert 'id="threshold_toxicity-error"' in response.text
    assert db.session.get(Site, site.id).settings == {}
    preview = dashboard.get(
        f"/mod/sites/news/settings/preview?threshold_toxicity={value}", headers={"HX-Request": "true"}
    )
    assert preview.status_code == 200  # a half-typed value is left out of the preview


def test_plain_decimals_are_saved(dashboard, db, site):
    response = dashboard.post(
        "/mod/sites/news/settings", {"threshold_toxicity": ".25", "threshold_insult": "1"}, htmx=False
    )
    assert response.status_code == 303
    assert db.session.get(Site, site.id).settings["thresholds"] == {"toxicity": 0.25, "insult": 1.0}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "sort, cursor",
    [
        ("oldest", _cursor('{"s":"oldest","p":["2026-01-01T00:00:00+00:00",Infinity]}')),
        ("oldest", _cursor('{"s":"oldest","p":["2026-01-01T00:00:00+00:00",NaN]}')),
        ("oldest", _cursor('{"s":"oldest","p":["0001-01-01T00:00:00+01:00",1]}')),
        ("oldest", _cursor('{"s":"oldest","p":["2026-01-01T00:00:00",1]}')),
        ("newest", _cursor('{"s":"newest","p":["2026-01-01T00:00:00+00:00",18446744073709551616]}')),
        ("score", _cursor('{"s":"score","p":[Infinity,1]}')),
        ("score", _cursor('{"s":"score","p":[NaN,1]}')),
        ("score", _cursor('{"s":"score","p":[0.5,1e309]}')),
        ("score", _cursor('{"s":"score","p":[[0.5],1]}')),
    ],
)
def test_forged_queue_cursors_get_the_error_page(dashboard, held_comments, sort, cursor):
    for headers in ({}, {"HX-Request": "true"}):
        response = dashboard.get("/mod/", query_string={"sort": sort, "cursor": cursor}, headers=headers)
        assert _is_clean_page(response, 422), (response.status_code, response.text[:200])


@pytest.mark.parametrize(
    "path", ["/mod/sites/news/threads/%ff%fe", "/mod/sites/news/threads/%C0%AF", "/mod/sites/news/threads/a%80b"]
)
def test_thread_keys_that_are_not_utf8_are_not_found(dashboard, held_comments, path):
    response = dashboard.get(path)
    assert _is_clean_page(response, 404)
    assert "/mod/static/dashboard.css" in response.text


def test_forms_and_queries_that_are_not_utf8_are_refused(dashboard, db, site):
    response = dashboard.get("/mod/?reason=%ff")
    assert _is_clean_page(response, 422)
    posted = dashboard.client.post(
        "/mod/sites/news/settings",
        data=f"csrf_token={dashboard.csrf}&banned_words=spam%ff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert _is_clean_page(posted, 422)
    assert db.session.get(Site, site.id).settings == {}


@pytest.mark.parametrize(
    "path", ["/mod/?site=news%0A", "/mod/?reason=toxicity%0A", "/mod/stats?site=news%0A", "/mod/sites/news%0A/settings"]
)
def test_a_trailing_newline_is_not_part_of_a_name(dashboard, site, path):
    """``$`` matches before a final newline: the dashboard's names are matched whole."""
    response = dashboard.get(path)
    assert _is_clean_page(response, (400, 404)) and "news\n" not in response.text
