"""The embeddable widget in headless Chromium, on a host page from another origin than the service."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from comments.models import Comment, Report, Thread
from tests.helpers import SITE, Api

pytestmark = pytest.mark.browser

CLEAN = "Thanks for the thoughtful article about the city budget."  # the test model publishes it


@pytest.fixture()
def api(app, paper) -> Api:
    return Api(app.test_client(), SITE)


def comment(page: Any, text: str) -> Any:
    """The comment (its own <article>, without its replies) whose text contains ``text``."""
    return page.locator("#comments article.main", has=page.locator(".body", has_text=text))


def nesting(article: Any) -> list[str]:
    """The reply lists around a comment, innermost first: "nested" (indented) or "flat"."""
    return article.evaluate("""el => { const found = [];
        for (let e = el; e; e = e.parentElement) if (e.matches("ul.replies")) found.push(e.matches(".flat") ? "flat" : "nested");
        return found; }""")


def post_from_widget(page: Any, text: str, name: str = "Ann", scope: Any = None) -> None:
    form = (scope or page.locator("#comments .new")).locator("form")
    name_field = form.locator("input[name=name]")
    if name_field.count() and not name_field.input_value():
        name_field.fill(name)
    form.locator("textarea").fill(text)
    form.locator("button[type=submit]").click()


def status_text(page: Any) -> Any:
    return page.locator("#comments [role=status]")


# --- reading ----------------------------------------------------------------------------------


def test_reads_a_thread_with_nesting_flattening_tombstones_and_more(reader, api, db):
    root = api.post("The root comment", "Maria").json["comment"]["id"]
    parent = root
    for depth, name in enumerate(["Tom", "Priya", "Li", "Sam", "Ann"], start=1):
        parent = api.post(f"Reply at depth {depth}", name, parent_id=parent).json["comment"]["id"]
    for i in range(5):
        api.post(f"Sibling reply {i}", f"Reader {i}", parent_id=root)
    gone = api.post("Soon deleted", "Gone", ip="192.0.2.9").json
    api.post("A reply under the deleted one", "Zed", parent_id=gone["comment"]["id"])
    api.client.delete(f"/api/v1/comments/{gone['comment']['id']}", headers={"X-Edit-Token": gone["edit_token"]})
    for i in range(21):
        api.post(f"Filler root {i}", "Filler", ip=f"192.0.2.{100 + i}")

    page = reader.article()
    expect(page.locator("#comments h2")).to_have_text("Comments (33)")
    # Indentation stops at three levels; deeper replies are listed flat, naming whom they answer.
    assert nesting(comment(page, "Reply at depth 3")) == ["nested"] * 3
    deep = comment(page, "Reply at depth 5")
    expect(deep.locator(".replying")).to_have_text("↳ replying to Sam")
    assert nesting(deep) == nesting(comment(page, "Reply at depth 4")) == ["flat"] + ["nested"] * 3
    expect(comment(page, "Reply at depth 4").locator(".replying")).to_have_text("↳ replying to Li")
    # A long list of replies: three shown, the rest behind a button.
    expect(comment(page, "Sibling reply 1")).to_be_visible()
    expect(page.locator("#comments .body", has_text="Sibling reply 2")).to_have_count(0)
    page.get_by_role("button", name="Show 3 more replies").click()
    expect(comment(page, "Sibling reply 4")).to_be_visible()
    # The tombstone keeps its reply; it has no author, no text and no actions.
    tombstone = page.locator("#comments article.main", has=page.locator(".tombstone"))
    expect(tombstone).to_have_text("This comment was deleted.")
    expect(tombstone.locator("button")).to_have_count(0)
    assert (
        tombstone.evaluate("el => el.parentElement.querySelector('ul.replies .body').textContent")
        == "A reply under the deleted one"
    )
    expect(comment(page, "A reply under the deleted one")).to_be_visible()
    # Relative time, the exact time on hover.
    time = comment(page, "The root comment").locator("time").first
    expect(time).to_have_text(re.compile(r"^(now|\d+ seconds? ago)$"))
    assert re.search(r"\d{4}", time.get_attribute("title"))
    # 20 roots a page, then "load more".
    expect(page.locator("#comments ul.list > li")).to_have_count(20)
    page.get_by_role("button", name="Load more comments").click()
    expect(page.locator("#comments ul.list > li")).to_have_count(23)
    expect(page.get_by_role("button", name="Load more comments")).to_be_hidden()
    # Sorting: newest first puts the last filler on top.
    page.get_by_label("Sort").select_option("newest")
    expect(page.locator("#comments ul.list > li .body").first).to_have_text("Filler root 20")
    page.get_by_label("Sort").select_option("top")
    expect(page.locator("#comments ul.list > li .body").first).to_have_text("The root comment")


def test_host_styles_do_not_reach_the_widget(reader, api):
    api.post("Styled?", "Ann")
    page = reader.article(
        style="p, li, button, textarea, div { color: rgb(255, 0, 0) !important; "
        "background: yellow !important; font-family: Georgia !important; }"
    )
    body = comment(page, "Styled?").locator(".body p")
    assert body.evaluate("el => getComputedStyle(el).color") == "rgb(31, 35, 40)"
    assert not body.evaluate("el => getComputedStyle(el).fontFamily").startswith("Georgia")
    assert page.locator("body > p").evaluate("el => getComputedStyle(el).color") == "rgb(255, 0, 0)"


def test_empty_thread_and_strings_in_french(reader, db):
    page = reader.article("nouvel-article", lang="fr")
    expect(page.locator("#comments .message")).to_have_text(
        "Aucun commentaire pour l’instant. Soyez le premier à commenter."
    )
    expect(page.locator("#comments h2")).to_have_text("Commentaires")
    expect(page.get_by_role("button", name="Publier")).to_be_visible()
    post_from_widget(page, "Premier !", "Zoé")
    expect(comment(page, "Premier !")).to_be_visible()
    expect(status_text(page)).to_have_text("Votre commentaire est publié.")
    db.session.expire_all()
    thread = db.session.query(Thread).one()  # the first comment created it, with the page's title and address
    assert (
        thread.title == "City council agrees next year's budget"
        and thread.url == f"{reader.host_origin}/nouvel-article.html"
    )


# --- writing ----------------------------------------------------------------------------------


def test_post_reply_and_the_name_is_remembered(reader, api, db):
    api.post("Is anyone here?", "Maria")
    page = reader.article()
    post_from_widget(page, "Hello *world*", "Ann")
    mine = comment(page, "Hello world")
    expect(mine.locator(".body em")).to_have_text("world")
    expect(mine.locator(".author")).to_have_text("Ann")
    expect(status_text(page)).to_have_text("Your comment is published.")
    expect(page.locator("#comments h2")).to_have_text("Comments (2)")
    expect(page.locator("#comments .new textarea")).to_have_value("")

    # A reply, from the keyboard: the form opens under the comment, the name is filled in.
    target = comment(page, "Is anyone here?")
    target.get_by_role("button", name="Reply").first.focus()
    page.keyboard.press("Enter")
    reply_form = target.locator(".slot form").first
    expect(reply_form.get_by_label("Name")).to_have_value("Ann")
    expect(reply_form.get_by_label("Your reply")).to_be_focused()
    page.keyboard.type("Yes, here.")
    reply_form.get_by_role("button", name="Post reply").click()
    expect(comment(page, "Yes, here.")).to_be_visible()
    expect(comment(page, "Yes, here.")).to_be_focused()
    assert nesting(comment(page, "Yes, here.")) == ["nested"]
    expect(target.locator(".slot form")).to_have_count(0)

    db.session.expire_all()
    reply = db.session.query(Comment).filter_by(body="Yes, here.").one()
    assert reply.parent.body == "Is anyone here?" and reply.author_name == "Ann"

    page.reload()
    page.locator("#comments .root[data-state=ready]").wait_for()
    expect(page.locator("#comments .new").get_by_label("Name")).to_have_value("Ann")


def test_markdown_preview_comes_from_the_service(reader):
    page = reader.article()
    form = page.locator("#comments .new form")
    form.locator("textarea").fill("**bold** and <b>raw</b>")
    form.get_by_role("button", name="Preview").click()
    preview = form.locator(".preview")
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview).to_contain_text("<b>raw</b>")  # raw HTML is shown as text, as when posted
    expect(form.locator("textarea")).to_be_hidden()
    form.get_by_role("button", name="Write").click()
    expect(form.locator("textarea")).to_have_value("**bold** and <b>raw</b>")


def test_pending_then_published_after_scoring(scoring, reader, db):
    page = reader.article()
    post_from_widget(page, CLEAN, "Ann")
    mine = comment(page, CLEAN)
    # The service answered 202: the reader sees their comment at once, marked as waiting.
    expect(mine.locator(".badge")).to_have_text("Waiting for review")
    expect(mine.locator(".note")).to_have_text("Your comment is being checked and will appear shortly.")
    # The worker publishes it; the widget's polling turns it into a normal comment.
    expect(mine.locator(".badge")).to_have_count(0, timeout=15_000)
    expect(mine.locator(".note")).to_have_count(0)
    expect(status_text(page)).to_have_text("Your comment is now published.")
    expect(page.locator("#comments h2")).to_have_text("Comments (1)")
    db.session.expire_all()
    assert db.session.query(Comment).one().status == "published"


def test_a_held_comment_stays_waiting_and_comes_back_after_a_reload(reader, paper, db):
    from tests.helpers import set_settings

    set_settings(paper, premoderation="all")
    page = reader.article()
    post_from_widget(page, "Please review me", "Ann")
    expect(comment(page, "Please review me").locator(".note")).to_have_text(
        "Your comment is waiting for review by a moderator."
    )
    page.reload()
    page.locator("#comments .root[data-state=ready]").wait_for()
    # Readers do not see it; its author, with the token kept in local storage, still does.
    expect(comment(page, "Please review me").locator(".badge")).to_have_text("Waiting for review")


def test_edit_and_delete_within_the_window(reader, api, db):
    api.post("Someone else's comment", "Maria")
    page = reader.article()
    post_from_widget(page, "Frist!", "Ann")
    mine = comment(page, "Frist!")
    expect(comment(page, "Someone else's comment").get_by_role("button", name="Edit")).to_have_count(0)
    mine.get_by_role("button", name="Edit").click()
    editor = mine.locator(".slot form")
    expect(editor.locator("textarea")).to_be_focused()
    page.keyboard.press("Escape")  # cancels, and focus goes back to the Edit button
    expect(editor).to_have_count(0)
    expect(mine.get_by_role("button", name="Edit")).to_be_focused()
    page.keyboard.press("Enter")
    expect(editor.locator("textarea")).to_have_value("Frist!")
    editor.locator("textarea").fill("First!")
    editor.get_by_role("button", name="Save").click()
    edited = comment(page, "First!")
    expect(edited.locator(".edited")).to_have_text("(edited)")
    expect(status_text(page)).to_have_text("Your changes are saved.")
    db.session.expire_all()
    assert db.session.query(Comment).filter_by(author_name="Ann").one().body == "First!"

    edited.get_by_role("button", name="Delete").click()
    expect(edited.get_by_text("Delete this comment for good?")).to_be_visible()
    edited.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#comments .body", has_text="First!")).to_have_count(0)
    expect(status_text(page)).to_have_text("Your comment was deleted.")
    expect(page.locator("#comments h2")).to_have_text("Comments (1)")
    db.session.expire_all()
    assert db.session.query(Comment).filter_by(status="deleted").count() == 1


def test_no_edit_after_the_window(reader, api, paper, db):
    from tests.helpers import set_settings

    set_settings(paper, edit_window_seconds=3)  # long enough to see the buttons on a busy machine
    page = reader.article()
    post_from_widget(page, "Quick one", "Ann")
    mine = comment(page, "Quick one")
    expect(mine.get_by_role("button", name="Edit")).to_be_visible()
    expect(mine.get_by_role("button", name="Edit")).to_have_count(0, timeout=5_000)  # gone when the window closes
    expect(mine.get_by_role("button", name="Delete")).to_have_count(0)
    page.reload()
    page.locator("#comments .root[data-state=ready]").wait_for()
    expect(comment(page, "Quick one").get_by_role("button", name="Edit")).to_have_count(0)


# --- reports ----------------------------------------------------------------------------------


def test_report_menu_from_the_keyboard(reader, api, db):
    api.post("Buy cheap watches", "Spammer")
    page = reader.article()
    target = comment(page, "Buy cheap watches")
    menu_button = target.get_by_role("button", name="Report", exact=True)
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    menu_button.focus()
    page.keyboard.press("ArrowDown")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    menu = target.get_by_role("menu")
    expect(menu.get_by_role("menuitem")).to_have_text(["Spam", "Abuse or harassment", "Offensive", "Something else"])
    expect(menu.get_by_role("menuitem", name="Spam")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(menu_button).to_be_focused()
    page.keyboard.press("ArrowUp")  # opens on the last item
    expect(menu.get_by_role("menuitem", name="Something else")).to_be_focused()
    page.keyboard.press("ArrowDown")  # wraps to the first
    page.keyboard.press("Enter")
    expect(target.get_by_role("button", name="Reported")).to_be_disabled()
    expect(status_text(page)).to_have_text("Thank you. A moderator will look at this comment.")
    db.session.expire_all()
    assert [r.reason for r in db.session.query(Report).all()] == ["spam"]


# --- counts -----------------------------------------------------------------------------------


def test_counts_fill_every_link_with_one_request(reader, api):
    api.post("one", key="a")
    api.post("two", key="a", ip="192.0.2.2")
    api.post("three", key="b/with slash")
    page = reader.page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/counts" in r.url else None)
    reader.listing(["a", "b/with slash", "never-commented", "a"])
    links = page.locator("a[data-comments-filled]")
    expect(links).to_have_count(4)
    expect(page.locator("a[data-comments-count]")).to_have_text(
        ["2 comments", "1 comment", "No comments", "2 comments"]
    )
    assert len(requests) == 1


# --- errors -----------------------------------------------------------------------------------


def _form_error(page: Any) -> Any:
    return page.locator("#comments .new .error")


def test_invalid_fields_too_large_and_the_text_is_kept(reader):
    page = reader.article()
    form = page.locator("#comments .new form")
    post_from_widget(page, "Fine text", "N" * 65)
    expect(_form_error(page)).to_have_text(
        "Please check your comment: Your name is 65 characters long; at most 64 are allowed."
    )
    expect(form.locator("textarea")).to_have_value("Fine text")
    form.get_by_label("Name").fill("Ann")
    long_text = "x" * 10_001
    form.locator("textarea").fill(long_text)
    form.get_by_role("button", name="Post comment").click()
    expect(_form_error(page)).to_have_text(
        "Please check your comment: Your comment is 10001 characters long; at most 10000 are allowed."
    )
    huge = "y" * 70_000
    form.locator("textarea").fill(huge)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name="Post comment").click()
    assert answer.value.status == 413  # the service's answer reached the widget, not a dropped connection
    expect(_form_error(page)).to_have_text(
        "Your comment is too large to send (the service accepts at most 64 KiB). Please shorten it."
    )
    assert form.locator("textarea").input_value() == huge
    expect(_form_error(page)).to_have_attribute("role", "alert")


def test_rate_limited_with_the_wait(reader, app):
    page = reader.article()
    app.config["RATELIMIT_POST"] = "1 per minute"
    try:
        post_from_widget(page, "First", "Ann")
        expect(comment(page, "First")).to_be_visible()
        post_from_widget(page, "Second, too fast")
        expect(_form_error(page)).to_have_text(
            re.compile(r"^You are commenting too fast\. Please wait (1 minute|\d+ seconds) and try again\.$")
        )
        expect(page.locator("#comments .new textarea")).to_have_value("Second, too fast")
    finally:
        app.config["RATELIMIT_POST"] = "1000 per minute"


def test_closed_thread(reader, api, db):
    api.post("Before closing", "Maria")
    page = reader.article()
    post_from_widget(page, "Typed before it closed, then sent", "Ann")
    expect(comment(page, "Typed before it closed")).to_be_visible()
    page.locator("#comments .new textarea").fill("Written while it closes")
    thread = db.session.query(Thread).one()
    thread.closed = True
    thread.revision += 1  # what closing through the host API does: readers' caches see the change
    db.session.commit()
    page.locator("#comments .new").get_by_role("button", name="Post comment").click()
    expect(_form_error(page)).to_have_text("This thread is closed to new comments.")
    expect(page.locator("#comments .new textarea")).to_have_value("Written while it closes")
    expect(page.locator("#comments").get_by_role("button", name="Reply")).to_have_count(0)
    page.reload()
    page.locator("#comments .root[data-state=ready]").wait_for()
    expect(page.locator("#comments .closed")).to_have_text("This thread is closed to new comments.")
    expect(page.locator("#comments form")).to_have_count(0)
    expect(comment(page, "Before closing")).to_be_visible()


def test_an_origin_not_on_the_allow_list_is_refused(reader, api, foreign_origin, db):
    api.post("Only for the paper's own pages", "Maria")
    page = reader.article(origin=foreign_origin)
    expect(page.locator("#comments .message")).to_have_text(
        "Comments cannot be shown here: this website is not allowed by the comment service."
    )
    expect(page.locator("#comments .body")).to_have_count(0)
    expect(page.locator("#comments form")).to_have_count(0)
    result = page.evaluate(f"""fetch("{reader.service_url}/api/v1/sites/{SITE}/threads/t/comments", {{
        method: "POST", headers: {{"Content-Type": "application/json"}},
        body: JSON.stringify({{body: "sneaky", author_name: "Eve"}})}}).then(r => r.status, e => "blocked")""")
    assert result == "blocked"  # refused by the service (403, without CORS headers the page cannot read)
    db.session.expire_all()
    assert db.session.query(Comment).filter_by(author_name="Eve").count() == 0


def test_a_bad_page_address_does_not_cost_the_comment(reader, db):
    page = reader.article(attrs='data-url="http://not a valid address/"')
    post_from_widget(page, "Posted all the same", "Ann")
    expect(comment(page, "Posted all the same")).to_be_visible()
    db.session.expire_all()
    assert db.session.query(Thread).one().url == ""


def test_replies_below_the_indentation_cap_join_the_flat_list(reader, api):
    parent = api.post("Level 0", "Maria").json["comment"]["id"]
    for depth, name in enumerate(["Tom", "Priya", "Li", "Sam"], start=1):
        parent = api.post(f"Level {depth}", name, parent_id=parent).json["comment"]["id"]
    page = reader.article()
    for target, author in (("Level 3", "Li"), ("Level 4", "Sam")):
        comment(page, target).get_by_role("button", name="Reply").click()
        form = comment(page, target).locator(".slot form")
        form.locator("input[name=name]").fill("Ann")
        form.locator("textarea").fill(f"Answering {target}")
        form.get_by_role("button", name="Post reply").click()
        mine = comment(page, f"Answering {target}")
        expect(mine.locator(".replying")).to_have_text(f"↳ replying to {author}")
        assert nesting(mine) == ["flat"] + ["nested"] * 3
    order = page.locator("#comments ul.flat > li > article .body").all_inner_texts()
    assert order == ["Level 4", "Answering Level 3", "Answering Level 4"]


def test_replies_the_thread_read_did_not_carry_come_from_the_service_a_page_at_a_time(reader, api):
    root = api.post("A root with a long conversation", "Maria").json["comment"]["id"]
    for i in range(30):
        api.post(f"Direct reply {i}", f"Reader {i}", parent_id=root)
    # Under the indentation cap, a comment with more replies than the thread read carried.
    parent = root
    for depth, name in enumerate(["Tom", "Priya", "Li"], start=1):
        parent = api.post(f"Chain at depth {depth}", name, parent_id=parent).json["comment"]["id"]
    for i in range(6):
        api.post(f"Answer to Li {i}", f"Answerer {i}", parent_id=parent)
    page = reader.article()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/replies" in request.url else None)

    direct = page.locator("#comments ul.list > li > ul.replies > li > article .body")
    expect(direct).to_have_count(3)
    more = page.locator("#comments ul.list > li > button.more-replies")
    expect(more).to_have_text("Show 28 more replies")  # 31 direct replies (the chain's first too), 3 here
    more.click()
    expect(direct).to_have_count(13)
    assert len(asked) == 1 and f"/api/v1/comments/{root}/replies?" in asked[0]
    expect(more).to_have_text("Show 18 more replies")
    more.click()
    expect(direct).to_have_count(23)
    more.click()
    expect(direct).to_have_count(31)
    expect(more).to_have_count(0)
    texts = direct.all_inner_texts()
    assert texts == [f"Direct reply {i}" for i in range(30)] + ["Chain at depth 1"]
    assert len(asked) == 3
    # In the flat list below the cap: the rest of Li's answers join it, still naming whom they answer.
    answers = page.locator("#comments ul.flat .body", has_text="Answer to Li")
    expect(answers).to_have_count(3)
    page.get_by_role("button", name="Show 3 more replies").click()
    expect(answers).to_have_count(6)
    expect(comment(page, "Answer to Li 5").locator(".replying")).to_have_text("↳ replying to Li")
    assert nesting(comment(page, "Answer to Li 5")) == ["flat"] + ["nested"] * 3


def test_two_threads_on_one_page(reader, api):
    api.post("On the first", key="one")
    api.post("On the second", key="two")
    reader.host_pages.pages["/two.html"] = f"""<!doctype html><html lang="en"><body>
<div data-comments-embed data-site="{SITE}" data-thread="one"></div>
<div data-comments-embed data-site="{SITE}" data-thread="two"></div>
<script src="{reader.service_url}/widget/embed.js" async></script></body></html>"""
    page = reader.page
    page.goto(reader.host_origin + "/two.html")
    first, second = page.locator("[data-comments-embed]").all()
    expect(first.locator("article .body")).to_have_text(["On the first"])
    expect(second.locator("article .body")).to_have_text(["On the second"])
    second.locator("input[name=name]").fill("Ann")
    second.locator("textarea").fill("Only on the second")
    second.locator("button[type=submit]").click()
    expect(second.locator("article .body")).to_have_text(["On the second", "Only on the second"])
    expect(first.locator("article .body")).to_have_text(["On the first"])
