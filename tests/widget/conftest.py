"""Browser fixtures: the service on one origin, host pages on two others, headless Chromium.

The service is the session's ``app`` served by werkzeug on 127.0.0.1:<port A>, in a thread of this
process (so the ``db`` and ``scoring`` fixtures act on what the browser talks to). Host pages are
served by a small static server on 127.0.0.1:<port B>, the origin the test site allows, and by a
second one on <port C>, an origin it does not.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest

from comments.models import Site

SITE = "paper"
ARTICLE_TEXT = ("After nine hours of debate the council passed the budget by a narrow margin. The libraries "
                "keep their weekend opening hours; the tram extension waits another year.")


@pytest.fixture(scope="session")
def service_url(live_server: str) -> str:
    """The comment service, as the host pages reach it (another origin than theirs)."""
    return live_server


class HostPages:
    """The pages a host site serves: tests put HTML at a path, the browser fetches it."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def _served(pages: HostPages) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), pages.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def host_pages() -> Iterator[HostPages]:
    yield HostPages()


@pytest.fixture(scope="session")
def host_origin(host_pages: HostPages) -> Iterator[str]:
    with _served(host_pages) as origin:
        yield origin


@pytest.fixture(scope="session")
def foreign_origin(host_pages: HostPages) -> Iterator[str]:
    """The same pages from an origin the site did not register."""
    with _served(host_pages) as origin:
        yield origin


@pytest.fixture()
def paper(db: Any, host_origin: str) -> Site:
    from comments.services.sites import create_site

    site, _key = create_site(SITE, [host_origin], name="The Paper")
    db.session.commit()
    return site


class Browsing:
    """One browser context: what a reader sees, and everything that went wrong on the page."""

    def __init__(self, browser: Any, host_pages: HostPages, host_origin: str, service_url: str, **context: Any):
        self.context = browser.new_context(**{"viewport": {"width": 1000, "height": 900}, **context})
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.host_pages = host_pages
        self.host_origin = host_origin
        self.service_url = service_url
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def article(self, key: str = "article-1", *, origin: str | None = None, lang: str = "en",
                style: str = "", attrs: str = "", title: str = "City council agrees next year's budget") -> Any:
        """Open a host article page with the widget under it; wait until the thread is shown."""
        path = f"/{quote(key, safe='')}.html"
        self.host_pages.pages[path] = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body {{ font: 18px/1.6 Georgia, serif; max-width: 760px; margin: 24px auto; padding: 0 16px; }}
 h1 {{ line-height: 1.2; }} {style}</style></head>
<body><h1>{html.escape(title)}</h1><p>{ARTICLE_TEXT}</p>
<div id="comments" data-site="{SITE}" data-thread="{html.escape(key)}" data-title="{html.escape(title)}" {attrs}></div>
<script src="{self.service_url}/widget/embed.js" async></script></body></html>"""
        self.page.goto((origin or self.host_origin) + path)
        self.page.locator("#comments .root[data-state=ready], #comments .root[data-state=error]").wait_for()
        return self.page

    def listing(self, keys: list[str]) -> Any:
        links = "".join(f'<li><a href="/{quote(k)}" data-comments-count="{html.escape(k)}">…</a></li>' for k in keys)
        self.host_pages.pages["/index.html"] = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"></head>
<body><ul>{links}</ul><script src="{self.service_url}/widget/count.js" data-site="{SITE}" async></script></body></html>"""
        self.page.goto(self.host_origin + "/index.html")
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def reader(browser: Any, host_pages: HostPages, host_origin: str, service_url: str, paper: Site) -> Iterator[Browsing]:
    browsing = Browsing(browser, host_pages, host_origin, service_url)
    yield browsing
    browsing.close()
    assert browsing.errors == [], browsing.errors


@pytest.fixture()
def new_reader(browser: Any, host_pages: HostPages, host_origin: str, service_url: str, paper: Site):
    """More readers (another browser profile each), e.g. a phone or a dark-mode system."""
    opened: list[Browsing] = []

    def open_one(**context: Any) -> Browsing:
        browsing = Browsing(browser, host_pages, host_origin, service_url, **context)
        opened.append(browsing)
        return browsing

    yield open_one
    for browsing in opened:
        browsing.close()
    assert [e for b in opened for e in b.errors] == []
