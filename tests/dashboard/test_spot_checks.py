"""The dashboard's spot-check tab: its count, its cards (scores and band) and the answers f, h, x, undo."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from comments.models import AuditEvent, CalibrationEvidence, Comment, SpotCheck
from comments.services.calibration import evidence
from tests.helpers import make_comment

NEAR = {"toxicity": 0.6, "insult": 0.2}


@pytest.fixture()
def drawn(db, site):
    evidence.sampler = SimpleNamespace(random=lambda: 0.0)
    return [
        make_comment(site, f"Close to the line {i}", scores=NEAR, author=f"Reader {i}", ip=f"192.0.2.{i}").id
        for i in range(2)
    ]


def _cards(page_html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article class="card[^"]*" id="card-(\d+)"', page_html)]


def _count(page_html: str) -> int:
    return int(re.search(r'data-count="spot-check">(\d+)<', page_html).group(1))


def _answer(dashboard, comment_id: int, verdict: str, **data):
    return dashboard.post(
        f"/mod/comments/{comment_id}/spot-check", {"verdict": verdict, "filter_queue": "spot-check", **data}
    )


def test_the_tab_counts_the_checks_and_the_cards_show_scores_and_band(dashboard, drawn):
    page = dashboard.get("/mod/?queue=spot-check")
    assert page.status_code == 200
    assert ">Spot checks" in page.text or "Spot checks <span" in page.text
    assert _count(page.text) == 2 and _count(dashboard.get("/mod/").text) == 2  # on every tab
    assert _cards(page.text) == drawn
    assert "band-edge" in page.text and "drawn with probability 0.0585" in page.text  # 1 - 0.99 ** 6
    assert "<dt>toxicity</dt><dd>0.600</dd>" in page.text
    assert 'data-action="fine"' in page.text and 'data-action="remove"' in page.text
    assert 'id="bulk"' not in page.text  # no bulk answers
    assert 'data-action="approve"' not in page.text  # answers, not decisions


def test_fine_and_its_undo(dashboard, db, drawn):
    response = _answer(dashboard, drawn[0], "fine")
    assert response.status_code == 200
    assert "Fine: rightly published" in response.text and f"/mod/comments/{drawn[0]}/spot-check/undo" in response.text
    assert _count(response.text) == 1  # the tabs, out of band
    assert db.session.get(SpotCheck, drawn[0]).verdict == "fine"
    undone = dashboard.post(f"/mod/comments/{drawn[0]}/spot-check/undo", {"filter_queue": "spot-check"})
    assert undone.status_code == 200 and f'id="card-{drawn[0]}"' in undone.text and "data-card" in undone.text
    assert _count(undone.text) == 2
    db.session.expire_all()
    assert db.session.get(SpotCheck, drawn[0]).verdict is None
    assert db.session.execute(select(CalibrationEvidence)).scalars().all() == []


def test_should_have_been_held_keeps_it_published_and_remove_rejects_it(dashboard, db, drawn):
    assert _answer(dashboard, drawn[0], "should_have_been_held").status_code == 200
    removed = _answer(dashboard, drawn[1], "remove", reason="abuse")
    assert removed.status_code == 200 and "Should have been held, removed (abuse or harassment)" in removed.text
    db.session.expire_all()
    assert db.session.get(Comment, drawn[0]).status == "published"
    assert db.session.get(Comment, drawn[1]).status == "rejected"
    assert {c.verdict for c in db.session.execute(select(SpotCheck)).scalars()} == {"should_have_been_held"}
    rejected = db.session.execute(
        select(AuditEvent).where(AuditEvent.comment_id == drawn[1], AuditEvent.action == "rejected")
    ).scalar_one()
    assert rejected.actor_type == "moderator"
    # Undo takes back the removal with the answer.
    assert dashboard.post(f"/mod/comments/{drawn[1]}/spot-check/undo").status_code == 200
    db.session.expire_all()
    assert db.session.get(Comment, drawn[1]).status == "published"
    assert _cards(dashboard.get("/mod/?queue=spot-check").text) == [drawn[1]]


def test_an_answer_someone_else_gave_first_shows_as_a_conflict(app, dashboard, db, drawn):
    from comments.services.accounts import create_moderator
    from tests.helpers import Dashboard

    create_moderator("other@news.example", "correct horse battery")
    db.session.commit()
    other = Dashboard(app.test_client())
    other.login("other@news.example")
    assert _answer(other, drawn[0], "fine").status_code == 200
    late = _answer(dashboard, drawn[0], "should_have_been_held")
    assert late.status_code == 200 and "Already decided." in late.text and "already answered (fine)" in late.text
    refused = dashboard.post(f"/mod/comments/{drawn[0]}/spot-check/undo")
    assert refused.status_code == 409 and "Only the moderator who answered" in refused.text


@pytest.mark.parametrize("verdict", ["", "approve", "held"])
def test_an_unknown_answer_is_a_400(dashboard, drawn, verdict):
    assert _answer(dashboard, drawn[0], verdict).status_code == 400


@pytest.mark.browser
def test_the_keys_answer_in_a_browser(page, live_server, db, moderator, drawn, tmp_path):
    """f answers "fine", x "should have been held" and removes, u undoes; the tab's count follows."""
    import os
    from pathlib import Path

    expect = pytest.importorskip("playwright.sync_api").expect
    from tests.helpers import browser_login

    browser_login(page)
    page.goto("/mod/?queue=spot-check")
    first = page.locator(f"#card-{drawn[0]}")
    first.wait_for()
    folder = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("COMMENTS_WRITE_SCREENSHOTS") != "1":
        folder = tmp_path
    page.screenshot(path=str(folder / "dashboard-spot-checks.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(folder / "dashboard-spot-checks-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    assert "edge" in first.locator(".spot-check").inner_text()
    expect(page.locator('#queue-tabs [data-count="spot-check"]')).to_have_text("2")
    page.keyboard.press("j")
    page.keyboard.press("f")
    page.locator(f"#card-{drawn[0]}.decided").wait_for()
    expect(page.locator('#queue-tabs [data-count="spot-check"]')).to_have_text("1")
    page.locator(f"#card-{drawn[1]}").focus()
    page.keyboard.press("x")
    page.locator(f"#card-{drawn[1]}.decided").wait_for()
    assert "removed" in page.locator(f"#card-{drawn[1]}").inner_text()
    expect(page.locator('#queue-tabs [data-count="spot-check"]')).to_have_text("0")
    page.keyboard.press("u")
    page.locator(f"#card-{drawn[1]}[data-card]").wait_for()
    expect(page.locator('#queue-tabs [data-count="spot-check"]')).to_have_text("1")
    db.session.expire_all()
    assert db.session.get(Comment, drawn[1]).status == "published"
    assert db.session.get(SpotCheck, drawn[0]).verdict == "fine"
    assert page.problems == []
