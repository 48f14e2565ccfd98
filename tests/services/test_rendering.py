"""Rendering: the Markdown subset, link attributes, and XSS payloads made inert."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from comments.services.rendering import LINK_REL, fingerprint, render
from tests.helpers import XSS_PAYLOADS as PAYLOADS

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}


class _Elements(HTMLParser):
    """What a browser would build: every element with its attributes (text stays text)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def _tags(html: str) -> set[str]:
    return {tag for tag, _ in _Elements(html).elements}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_xss_payloads_are_inert(payload):
    html = render(payload)
    for tag, attrs in _Elements(html).elements:
        assert tag in ALLOWED_TAGS, html
        if tag == "a":
            assert set(attrs) == {"href", "rel"}, html
            assert attrs["rel"] == LINK_REL
            assert attrs["href"].startswith(("http://", "https://", "mailto:")), html
        elif tag == "ol":
            assert set(attrs) <= {"start"}, html
        else:
            assert attrs == {}, html


@pytest.mark.parametrize(
    "markdown,html",
    [
        ("plain", "<p>plain</p>"),
        ("*em* **strong** _em_", "<p><em>em</em> <strong>strong</strong> <em>em</em></p>"),
        ("`code`", "<p><code>code</code></p>"),
        ("```\nblock\n```", "<pre><code>block\n</code></pre>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"),
        ("line\nbreak", "<p>line<br>\nbreak</p>"),
        ("[a link](https://x.example/a?b=c)", f'<p><a href="https://x.example/a?b=c" rel="{LINK_REL}">a link</a></p>'),
        (
            "bare https://x.example link",
            f'<p>bare <a href="https://x.example" rel="{LINK_REL}">https://x.example</a> link</p>',
        ),
    ],
)
def test_markdown_subset(markdown, html):
    assert render(markdown) == html


@pytest.mark.parametrize(
    "markdown",
    ["# Heading", "![image](https://x.example/i.png)", "| a | b |\n|---|---|\n| 1 | 2 |", "<b>raw html</b>", "---"],
)
def test_outside_the_subset_stays_text(markdown):
    assert _tags(render(markdown)) <= {"p", "a", "br"}
    assert "<img" not in render(markdown) and "<h1" not in render(markdown)


def test_deep_nesting_is_bounded_without_losing_text():
    html = render(">" * 5000 + " the words at the bottom")
    assert html.count("<blockquote>") <= 8
    assert "the words at the bottom" in html
    nested_lists = "\n".join("  " * i + "- item" for i in range(200))
    html = render(nested_lists)
    assert html.count("<ul>") <= 24


def test_rendering_a_maximal_hostile_body_is_quick():
    import time

    body = ("*_" * 2500) + ("[" * 2500) + ("`" * 2500)
    started = time.perf_counter()
    render(body[:10_000])
    # Not a speed target (those live in bench/): a guard against pathological backtracking.
    assert time.perf_counter() - started < 5


def test_fingerprint_ignores_case_spacing_and_punctuation():
    assert fingerprint("Hello, World!") == fingerprint("hello   world")
    assert fingerprint("hello world") != fingerprint("hello there world")
