"""Browser fixtures: the service on one origin, host pages on two others, headless Chromium.

The service is the session's ``app`` served by werkzeug on 127.0.0.1:<port A>, in a thread of this
process (so the ``db`` and ``scoring`` fixtures act on what the browser talks to). Host pages are
served by a small static server on 127.0.0.1:<port B>, the origin the test site allows, and by a
second one on <port C>, an origin it does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from comments.models import Site
from tests.helpers import SITE, Browsing, HostPages, served


@pytest.fixture(scope="session")
def service_url(live_server: str) -> str:
    """The comment service, as the host pages reach it (another origin than theirs)."""
    return live_server


@pytest.fixture(scope="session")
def host_pages() -> Iterator[HostPages]:
    yield HostPages()


@pytest.fixture(scope="session")
def host_origin(host_pages: HostPages) -> Iterator[str]:
    with served(host_pages) as origin:
        yield origin


@pytest.fixture(scope="session")
def foreign_origin(host_pages: HostPages) -> Iterator[str]:
    """The same pages from an origin the site did not register."""
    with served(host_pages) as origin:
        yield origin


@pytest.fixture()
def paper(db: Any, host_origin: str) -> Site:
    from comments.services.sites import create_site

    site, _key = create_site(SITE, [host_origin], name="The Paper")
    db.session.commit()
    return site


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


@pytest.fixture()
def sso_secret(db: Any, paper: Site) -> str:
    """The test site's SSO secret, as its host would sign readers' tokens with it."""
    from comments.services import sso
    from comments.services.audit import Actor

    secret = sso.issue_secret(paper, Actor("operator", "tests"))
    db.session.commit()
    return secret
