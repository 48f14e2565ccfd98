"""XSS payloads stay inert in the widget; light, dark and phone rendering (with screenshots)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import SITE, Api, set_settings
from tests.helpers import XSS_PAYLOADS as PAYLOADS

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Anything a payload could use to run script, load something, or restyle the widget: nowhere in the
# widget, and no form controls inside what users wrote.
FORBIDDEN = (
    "script, img, svg, math, iframe, object, embed, video, audio, source, base, meta, style, "
    "details, body, table, link:not([rel=stylesheet])"
)
FORBIDDEN_IN_CONTENT = FORBIDDEN + ", form, input, button, textarea, select"

INSPECT = """root => {
  const bad = [];
  const content = [...root.querySelectorAll(".body, .author, .replying, .preview")];
  for (const el of content) {
    for (const node of el.querySelectorAll("*")) {
      for (const attr of node.attributes) {
        const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, "").toLowerCase();
        if (attr.name.startsWith("on") || attr.name === "style" || attr.name === "src"
            || value.startsWith("javascript:") || value.startsWith("data:") || value.startsWith("vbscript:"))
          bad.push(node.outerHTML);
      }
    }
    for (const node of el.querySelectorAll(FORBIDDEN_IN_CONTENT)) bad.push(node.outerHTML);
  }
  return {bad, forbidden: [...root.querySelectorAll(FORBIDDEN)].map(e => e.outerHTML)};
}"""


def _as_name(payload: str) -> str:
    return payload.replace("\n", " ").replace("\t", " ")  # names are one line, without control characters


def _inspect(page: Any) -> dict[str, list[str]]:
    script = INSPECT.replace("FORBIDDEN_IN_CONTENT", repr(FORBIDDEN_IN_CONTENT)).replace("FORBIDDEN", repr(FORBIDDEN))
    return page.locator("#comments").evaluate(f"host => ({script})(host.shadowRoot)")


def test_xss_payloads_in_names_and_bodies_stay_inert(reader, app, paper):
    api = Api(app.test_client(), SITE)
    for i, payload in enumerate(PAYLOADS):
        # A number per post: several payloads share their words, and the duplicate rule would refuse them.
        assert api.post(f"{payload}\n\n#{i}", f"Reader {i}").status_code == 201
        name = _as_name(payload)
        if len(name) <= 64:
            assert api.post(f"Posted under a hostile name #{i}", name, ip=f"192.0.2.{i + 10}").status_code == 201
    page = reader.article()
    page.evaluate(
        "window.__xss = []; window.alert = window.confirm = window.prompt = m => window.__xss.push(String(m)); 0"
    )
    more = page.locator("#comments .more-roots")
    while more.is_visible():
        more.click()
        expect(more).to_be_enabled()  # disabled while the next page loads
    expect(page.locator("#comments article.main")).to_have_count(
        len(PAYLOADS) + sum(len(_as_name(p)) <= 64 for p in PAYLOADS)
    )
    # Names are text: the hostile one reads exactly as typed.
    expect(page.locator("#comments .author").get_by_text("<img src=x onerror=alert(1)>", exact=True)).to_have_count(1)

    # A payload typed into the form, previewed and posted, and one as a reply's author name.
    form = page.locator("#comments .new form")
    form.locator("input[name=name]").fill("<svg onload=alert(1)>")
    form.locator("textarea").fill('<img src=x onerror=alert(1)> [x](javascript:alert(1)) "><script>alert(1)</script>')
    form.get_by_role("button", name="Preview").click()
    expect(form.locator(".preview p")).to_be_visible()
    form.get_by_role("button", name="Write").click()
    form.get_by_role("button", name="Post comment").click()
    expect(page.locator("#comments .author").get_by_text("<svg onload=alert(1)>", exact=True)).to_have_count(2)
    page.mouse.move(10, 10)
    for link in page.locator("#comments .body a").all()[:20]:
        link.hover()
    page.wait_for_timeout(300)

    found = _inspect(page)
    assert found == {"bad": [], "forbidden": []}
    assert page.evaluate("window.__xss") == []
    assert reader.dialogs == []
    hrefs = page.locator("#comments .body a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs


def test_the_host_page_is_never_trusted(reader):
    """Hostile data-* attributes on the host element end up as text or URL parts, never as markup."""
    page = reader.article(
        "<img src=x onerror=alert(1)>",
        title="<script>alert(1)</script>",
        attrs='data-lang="<b>x</b>" data-theme="<i>dark</i>"',
    )
    assert _inspect(page) == {"bad": [], "forbidden": []}
    assert reader.dialogs == []
    expect(page.locator("#comments .message")).to_have_text("No comments yet. Be the first to comment.")


def _colors(page: Any) -> dict[str, Any]:
    return page.locator("#comments").evaluate("""host => {
        const root = host.shadowRoot.querySelector(".root");
        return {dark: root.classList.contains("dark"), text: getComputedStyle(root).color};
    }""")


DARK_HOST = "body { background: #15171c; color: #ddd; }"


def _seed(api: Api) -> None:
    first = api.post("The library hours decision matters to a lot of families here. **Well done.**", "Maria").json[
        "comment"
    ]["id"]
    tom = api.post("Agreed. Though I wonder how long the funding lasts.", "Tom", parent_id=first)
    reply = api.post(
        "Two years, according to the minutes:\n\n> funding secured until 2028",
        "Maria",
        parent_id=tom.json["comment"]["id"],
        ip="192.0.2.50",
    )
    api.post("That is not long at all.", "Priya", parent_id=reply.json["comment"]["id"], ip="192.0.2.51")
    api.post(
        "Does anyone know when the tram extension will be *voted* on? See https://example.org/tram",
        "Sam",
        ip="192.0.2.52",
    )


def test_light_dark_and_phone(new_reader, app, paper, tmp_path):
    _seed(Api(app.test_client(), SITE))
    saved: list[Path] = []

    light = new_reader(color_scheme="light")
    page = light.article()
    assert _colors(page) == {"dark": False, "text": "rgb(31, 35, 40)"}
    set_settings(paper, premoderation="all")  # the reader's own comment shows as waiting
    form = page.locator("#comments .new form")
    form.locator("input[name=name]").fill("Ann")
    form.locator("textarea").fill("Is the tram vote before or after the summer?")
    form.get_by_role("button", name="Post comment").click()
    expect(page.locator("#comments .badge")).to_have_text("Waiting for review")
    form.locator("textarea").fill("And **who** pays for the footbridge? > asked twice already")
    form.get_by_role("button", name="Preview").click()
    expect(form.locator(".preview strong")).to_have_text("who")
    saved.append(_shot(page, tmp_path, "widget-light.png"))

    # A dark host page: the widget follows its background, and follows it when it changes.
    dark = new_reader(color_scheme="light")
    page = dark.article(style=DARK_HOST)
    assert _colors(page)["dark"] is True
    page.evaluate("document.body.style.background = '#fff'")
    expect(page.locator("#comments .root")).not_to_have_class("root dark")
    page.evaluate("document.body.style.background = ''")
    expect(page.locator("#comments .root")).to_have_class("root dark")
    page.locator("#comments article.main").first.get_by_role("button", name="Report", exact=True).click()
    saved.append(_shot(page, tmp_path, "widget-dark.png"))

    # No background on the host: the system's preference decides; data-theme overrides both.
    system_dark = new_reader(color_scheme="dark")
    assert _colors(system_dark.article())["dark"] is True
    assert _colors(system_dark.article(attrs='data-theme="light"'))["dark"] is False

    phone = new_reader(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.article()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sticks out sideways
    page.locator("#comments article.main").nth(1).get_by_role("button", name="Reply").click()
    saved.append(_shot(page, tmp_path, "widget-phone.png"))

    # Themed by the host with custom properties.
    themed = new_reader()
    page = themed.article(style="#comments { --comments-accent: rgb(123, 45, 67); --comments-font: Georgia; }")
    button = page.locator("#comments .new button[type=submit]")
    assert button.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(123, 45, 67)"

    if os.environ.get("COMMENTS_SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for path in saved:
            shutil.copy(path, SCREENSHOTS / path.name)


def _shot(page: Any, directory: Path, name: str) -> Path:
    path = directory / name
    page.wait_for_timeout(100)
    page.screenshot(path=str(path), full_page=True)
    return path
