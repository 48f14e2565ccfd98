"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright, against the
app served on localhost. With COMMENTS_WRITE_SCREENSHOTS=1 it also refreshes docs/screenshots/."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from comments.models import Author, Comment
from tests.helpers import browser_login, make_comment, set_settings, signed_in

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

# Waits use locators, never wait_for_function: its string predicates need eval, which the page's
# Content-Security-Policy forbids once the first check fails.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture()
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/screenshots/ with COMMENTS_WRITE_SCREENSHOTS=1 (to refresh the
    README's), else a temporary folder, so that a test run leaves the checkout as it was."""
    import os

    folder = DOCS_SCREENSHOTS if os.environ.get("COMMENTS_WRITE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _public_thread(live_server: str, key: str = "article-1") -> list[dict]:
    with urllib.request.urlopen(f"{live_server}/api/v1/sites/news/threads/{key}/comments") as response:
        return json.load(response)["comments"]


def _status(db, comment_id: int) -> str:
    db.session.expire_all()  # the server changed it in another session
    return db.session.get(Comment, comment_id).status


def _count(page, queue: str) -> str:
    return page.locator(f'#queue-tabs [data-count="{queue}"]').inner_text()


def test_log_in_see_reasons_approve_by_keyboard_reject_and_count(page, live_server, db, moderator, held_comments):
    first, second, third = held_comments
    browser_login(page)
    card = page.locator(f"#card-{first.id}")
    card.wait_for()
    assert "You are all idiots." in card.locator(".comment-body").inner_text()
    why = card.locator(".why")
    assert "toxicity" in why.inner_text() and "0.93" in why.inner_text() and "0.70" in why.inner_text()
    assert why.get_by_role("img", name="score 0.93, threshold 0.70").is_visible()
    assert _count(page, "held") == "3"

    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.id") == f"card-{first.id}"
    page.keyboard.press("a")
    decided = page.locator(f"#card-{first.id}.decided")
    decided.wait_for()
    assert "Approved" in decided.inner_text()
    expect(page.locator('#queue-tabs [data-count="held"]')).to_have_text("2")
    assert _count(page, "approved") == "1"
    # Focus moved on to the next card by itself; the approved comment is public now.
    assert page.evaluate("document.activeElement.id") == f"card-{second.id}"
    assert [c["id"] for c in _public_thread(live_server)] == [first.id]

    page.locator(f"#card-{second.id} select[name=reason]").select_option("abuse")
    page.locator(f"#card-{second.id}").focus()
    page.keyboard.press("r")
    page.locator(f"#card-{second.id}.decided").wait_for()
    assert "Rejected (abuse or harassment)" in page.locator(f"#card-{second.id}").inner_text()
    expect(page.locator('#queue-tabs [data-count="held"]')).to_have_text("1")
    assert (_count(page, "held"), _count(page, "approved"), _count(page, "rejected")) == ("1", "1", "1")
    # The decided notices leave the queue after a few seconds.
    page.locator(f"#card-{first.id}").wait_for(state="detached", timeout=15000)
    assert page.locator("[data-card]").count() == 1
    # A fresh load agrees with what the page showed.
    page.reload()
    assert (_count(page, "held"), _count(page, "approved"), _count(page, "rejected")) == ("1", "1", "1")
    assert _status(db, second.id) == "rejected"
    assert page.problems == []


def test_undo_and_shortcut_help(page, live_server, db, moderator, held_comments):
    first = held_comments[0]
    browser_login(page)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    page.locator(f"#card-{first.id}").get_by_role("button", name="Approve").click()
    page.locator(f"#card-{first.id}.decided").wait_for()
    page.keyboard.press("u")
    page.locator(f"#card-{first.id}[data-card]").wait_for()
    expect(page.locator('#queue-tabs [data-count="held"]')).to_have_text("3")
    assert _status(db, first.id) == "held"
    assert _public_thread(live_server) == []
    assert page.problems == []


def test_bulk_select_with_x(page, db, moderator, held_comments):
    first, second, _ = held_comments
    browser_login(page)
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.locator("[data-selected-count]").inner_text() == "2 selected"
    page.get_by_role("button", name="Approve selected").click()
    page.locator("#bulk-result").get_by_text("Approved: 2.").wait_for()
    expect(page.locator('#queue-tabs [data-count="held"]')).to_have_text("1")
    assert [_status(db, c.id) for c in (first, second)] == ["published", "published"]
    assert page.problems == []


def test_requests_without_the_csrf_token_are_refused(page, live_server, db, moderator, held_comments):
    first = held_comments[0]
    browser_login(page)
    # The browser's own cookie, a forged request: the dashboard and the API both refuse it.
    forged = page.request.post(f"/mod/comments/{first.id}/decision", form={"action": "approve"})
    assert forged.status == 403
    api = page.request.post(f"/api/v1/moderation/comments/{first.id}/decision", data={"action": "approve"})
    assert api.status == 403 and api.json()["error"]["code"] == "csrf_failed"
    # A page whose token is wrong: the click is refused and the comment stays held.
    page.evaluate("""document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRF-Token': 'forged'}));
                     document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged');""")
    page.locator(f"#card-{first.id}").get_by_role("button", name="Approve").click()
    page.locator("#toasts .toast").get_by_text("Form expired").wait_for()
    assert page.locator(f"#card-{first.id}[data-card]").is_visible()
    assert _status(db, first.id) == "held"


def test_comment_html_from_the_xss_payloads_stays_inert(page, db, site, moderator):
    from tests.helpers import XSS_PAYLOADS as PAYLOADS

    set_settings(site, premoderation="all")
    for i, payload in enumerate(PAYLOADS):
        make_comment(
            site, payload, author=f"<img src=x onerror=alert({i})>", ip=f"10.1.{i}.1", title=f"<svg onload=alert({i})>"
        )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    browser_login(page)
    page.locator("[data-card]").first.wait_for()
    page.get_by_role("link", name="Load more").click()
    expect(page.locator("[data-card]")).to_have_count(len(PAYLOADS))
    # Hover and focus everything a payload might have hooked.
    for body in page.locator(".comment-body").all()[:10]:
        body.hover()
    page.wait_for_timeout(300)
    assert dialogs == []
    inside = page.evaluate("""() => {
        const bodies = [...document.querySelectorAll('.comment-body, .card-title')];
        const bad = [];
        for (const b of bodies) for (const el of b.querySelectorAll('*')) {
            if (['SCRIPT','IMG','IFRAME','SVG','OBJECT','EMBED','STYLE','FORM','INPUT','VIDEO','DETAILS'].includes(el.tagName)) bad.push(el.tagName);
            for (const a of el.attributes) {
                if (a.name.startsWith('on') || /^\\s*(javascript|data|vbscript):/i.test(a.value)) bad.push(el.tagName + ' ' + a.name);
            }
        }
        return bad;
    }""")
    assert inside == []
    scripts = page.evaluate("[...document.scripts].map(s => s.getAttribute('src'))")
    assert scripts == ["/mod/static/htmx.min.js", "/mod/static/dashboard.js"]
    assert page.locator(".card-title .author").first.inner_text().startswith("<img src=x onerror=alert(")


# --- screenshots for the README -----------------------------------------------------------------


def _realistic_queue(site, db) -> None:
    set_settings(site, suspect_words=["crypto"], report_threshold=2)
    make_comment(
        site,
        "You are all **idiots** and this article is garbage.",
        scores={"toxicity": 0.94, "insult": 0.88, "obscene": 0.31},
        author="Bob Hartley",
        title="City council approves the 2026 budget",
        key="budget-2026",
        ip="192.0.2.5",
    )
    root = make_comment(
        site,
        "The transport numbers look optimistic to me. Where does the 12% come from?",
        author="Maria Santos",
        title="City council approves the 2026 budget",
        key="budget-2026",
        ip="192.0.2.6",
    )
    make_comment(
        site,
        "Maybe read the report before posting, genius. People like you should keep quiet.",
        scores={"toxicity": 0.78, "insult": 0.72},
        author="Kev",
        key="budget-2026",
        parent_id=root.id,
        title="City council approves the 2026 budget",
        ip="192.0.2.7",
    )
    make_comment(
        site,
        "Earn 300% a month with this crypto trick: https://example.com/get-rich",
        author="FastMoney",
        title="Markets close higher",
        key="markets-0611",
        ip="192.0.2.8",
    )
    make_comment(
        site,
        "If the council passes this I know where the mayor lives.",
        scores={"threat": 0.81, "toxicity": 0.66},
        author="anon1987",
        title="Protest planned downtown",
        key="protest",
        ip="192.0.2.9",
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width,height,name", [(1280, 900, "desktop"), (390, 844, "phone")])
def test_queue_screenshots(browser, live_server, db, site, moderator, screenshots, scheme, width, height, name):
    _realistic_queue(site, db)
    context = browser.new_context(
        base_url=live_server, viewport={"width": width, "height": height}, color_scheme=scheme, device_scale_factor=1
    )
    tab = context.new_page()
    try:
        browser_login(tab)
        tab.locator("[data-card]").first.wait_for()
        tab.keyboard.press("j")  # show the focus ring on the first card
        tab.evaluate("window.scrollTo(0, 0)")
        tab.screenshot(path=str(screenshots / f"queue-{scheme}-{name}.png"), full_page=name == "desktop")
        # The colours really follow the scheme.
        background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
        channels = [int(x) for x in re.findall(r"\d+", background)[:3]]
        assert (sum(channels) / 3 < 60) == (scheme == "dark"), background
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_other_page_screenshots(browser, live_server, db, site, moderator, screenshots, scheme):
    _realistic_queue(site, db)
    first = db.session.query(Comment).order_by(Comment.id).first()
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    try:
        browser_login(tab)
        tab.locator(f"#card-{first.id}").get_by_role("button", name="Reject").click()
        tab.locator(f"#card-{first.id}.decided").wait_for()
        tab.screenshot(path=str(screenshots / f"decided-{scheme}.png"))
        for name, path in (
            ("comment", f"/mod/comments/{first.id}"),
            ("settings", "/mod/sites/news/settings"),
            ("stats", "/mod/stats"),
            ("thread", "/mod/sites/news/threads/budget-2026"),
        ):
            tab.goto(path)
            tab.screenshot(path=str(screenshots / f"{name}-{scheme}.png"), full_page=True)
        tab.goto("/mod/sites/news/settings")
        tab.get_by_label("Toxicity", exact=True).fill("0.5")
        tab.locator('[data-held="toxicity"]').get_by_text("3").wait_for()  # the live preview (2 at 0.7)
        assert problems == []
    finally:
        context.close()


# --- the person behind a comment ----------------------------------------------------------------


def _jane_and_kev(site) -> tuple[Comment, Comment, Comment]:
    """Two held comments by a signed-in reader with badges, and one by an anonymous author."""
    set_settings(site, premoderation="all")
    jane = signed_in("u-17", "Jane Doe", ["subscriber", "staff"])
    first = make_comment(
        site,
        "I was at the meeting: the library hours are **not** being cut, the report says so on page 12.",
        reader=jane,
        title="City council approves the 2026 budget",
        key="budget-2026",
    )
    second = make_comment(
        site,
        "Same as last week: read the report before you shout.",
        reader=jane,
        title="Protest planned",
        key="protest",
    )
    kev = make_comment(
        site, "Maybe read the report before posting, genius.", author="Kev", title="Protest planned", key="protest"
    )
    return first, second, kev


def _author_status(db, author_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Author, author_id).status


def test_the_author_panel_opens_from_a_card_and_a_key_changes_the_status(page, db, site, moderator, screenshots):
    first, second, kev = _jane_and_kev(site)
    browser_login(page)
    card = page.locator(f"#card-{first.id}")
    expect(card.locator(".pill")).to_have_text(["subscriber", "staff"])
    expect(card.locator(".verified")).to_be_visible()
    expect(page.locator(f"#card-{kev.id} .verified")).to_have_count(0)
    card.focus()
    page.keyboard.press("i")  # the card's author, in the drawer
    drawer = page.locator("#author-drawer")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_role("heading", level=2)).to_contain_text("Jane Doe")
    expect(drawer.locator(".author-comment")).to_have_count(2)

    page.keyboard.press("p")
    expect(drawer.locator(".author-standing")).to_contain_text("premod")
    expect(page.locator(f"#card-{second.id} .author-state")).to_have_text("premod")  # every card of theirs
    expect(page.locator(f"#card-{kev.id} .author-state")).to_have_text("")
    assert _author_status(db, first.author_id) == "premod"

    drawer.get_by_label("Suspend for").select_option("7d")
    drawer.get_by_label("Reason").fill("Flooding the budget threads")
    drawer.locator(".author-counts").click()  # out of the fields: keys are not typed into them
    page.keyboard.press("s")
    expect(drawer.locator("[data-done]")).to_contain_text("Suspended until")
    expect(drawer.locator(".author-standing")).to_contain_text("Flooding the budget threads")
    assert _author_status(db, first.author_id) == "suspended"
    page.screenshot(path=str(screenshots / "dashboard-author-panel.png"))

    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(card.locator(".author-state")).to_contain_text("suspended until")
    page.locator("#cards").screenshot(path=str(screenshots / "dashboard-card-badges.png"))
    assert page.problems == []


def test_the_author_page_without_the_drawer_and_the_queue_filter(page, db, site, moderator):
    first, second, kev = _jane_and_kev(site)
    browser_login(page)
    page.goto(f"/mod/authors/{first.author_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Jane Doe")
    page.keyboard.press("b")
    expect(page.locator("[data-done]")).to_contain_text("Banned")
    assert _author_status(db, first.author_id) == "banned"
    page.keyboard.press("q")  # their comments in the queue
    page.wait_for_url(f"**/mod/?author={first.author_id}")
    expect(page.locator("[data-card]")).to_have_count(2)
    expect(page.locator("[data-author-chip]")).to_contain_text("Jane Doe")
    expect(page.locator(f"#card-{first.id} .author-state")).to_have_text("banned")
    page.get_by_role("link", name="Remove the author filter").click()
    expect(page.locator("[data-card]")).to_have_count(3)
    expect(page.locator("[data-author-chip]")).to_have_count(0)
    assert page.problems == []


def test_calibration_page_draws_the_curves_and_applies_after_confirming(page, db, moderator, site, screenshots):
    from comments.models import utcnow
    from comments.services.sites import effective_settings
    from tests import calibration_data as sim

    sim.load_simulation(site, 2000, seed=3, end=utcnow())
    set_settings(site, calibration_objective={"kind": "precision", "target": 0.9})
    db.session.commit()
    browser_login(page)
    page.get_by_role("link", name="Calibration").click()
    section = page.locator("#label-toxicity")
    expect(section.get_by_role("img", name=re.compile("Estimated precision and recall of toxicity"))).to_be_visible()
    assert section.locator("path.line-precision").get_attribute("d").startswith("M")
    page.set_viewport_size({"width": 1100, "height": 1500})  # the README's: the site's figures and one label
    page.screenshot(path=str(screenshots / "calibration-light.png"))
    confirmations: list[str] = []

    def accept(dialog):
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    section.get_by_role("button", name=re.compile(r"Apply 0\.\d\d")).click()
    expect(page.locator("#applied")).to_contain_text("Thresholds set")
    assert confirmations and confirmations[0].startswith("Set the toxicity threshold from 0.70 to ")
    db.session.expire_all()
    assert effective_settings(site)["thresholds"]["toxicity"] != 0.7
    assert page.problems == []
