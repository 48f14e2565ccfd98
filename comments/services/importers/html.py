"""Imported comments arrive as HTML (Disqus, WordPress); comments here are Markdown.

Turns the small HTML of comments into the Markdown that renders the same: paragraphs, line
breaks, emphasis, code, quotes, lists and http(s)/mailto links. Any other markup is dropped and
its text kept; the result is rendered and sanitised like any comment (``services.rendering``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "blockquote", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
_MARKS = {"b": "**", "strong": "**", "i": "*", "em": "*", "code": "`", "s": "~~", "del": "~~"}
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#])")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.quote_depth = 0
        self.links: list[str | None] = []
        self.pre = 0
        self.lists: list[str] = []

    def _newlines(self, count: int) -> None:
        text = "".join(self.out)
        trailing = len(text) - len(text.rstrip("\n"))
        if text.strip():
            self.out.append("\n" * max(0, count - trailing))
            if self.quote_depth:
                self.out.append("> " * self.quote_depth)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            if tag == "blockquote":
                self._newlines(2)
                self.quote_depth += 1
                self.out.append("> ")
                return
            if tag in ("ul", "ol"):
                self.lists.append(tag)
            if tag == "pre":
                self.pre += 1
                self._newlines(2)
                self.out.append("```\n")
                return
            self._newlines(2)
        elif tag == "br":
            self.out.append("  \n" + "> " * self.quote_depth)
        elif tag == "li":
            self._newlines(1)
            self.out.append("1. " if self.lists and self.lists[-1] == "ol" else "- ")
        elif tag in _MARKS and not self.pre:
            self.out.append(_MARKS[tag])
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if re.match(r"^(https?://|mailto:)", href, re.I) and not self.pre:
                self.links.append(href)
                self.out.append("[")
            else:
                self.links.append(None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self._newlines(2)
        elif tag == "pre":
            self.out.append("\n```")
            self.pre = max(0, self.pre - 1)
            self._newlines(2)
        elif tag in _BLOCKS:
            if tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            self._newlines(2)
        elif tag in _MARKS and not self.pre:
            self.out.append(_MARKS[tag])
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href:
                self.out.append(f"]({href.replace(')', '%29').replace(' ', '%20')})")

    def handle_data(self, data: str) -> None:
        if self.pre:
            self.out.append(data)
            return
        data = re.sub(r"[ \t\r\f\v]+", " ", data)
        if self.quote_depth:
            data = data.replace("\n", "\n" + "> " * self.quote_depth)
        self.out.append(_MARKDOWN_SPECIALS.sub(r"\\\1", data))


def to_markdown(html: str, plain_newlines: bool = False) -> str:
    """Markdown for a comment's HTML. ``plain_newlines``: WordPress stores paragraphs as blank
    lines and line breaks as newlines in otherwise plain text."""
    if plain_newlines:
        html = html.replace("\r\n", "\n")
        html = "".join(f"<p>{part.replace(chr(10), '<br>')}</p>" for part in re.split(r"\n\s*\n", html) if part.strip())
    converter = _Converter()
    converter.feed(html)
    converter.close()
    text = "".join(converter.out)
    text = re.sub(r"[ \t]+\n", lambda m: "  \n" if m.group(0).startswith("  ") else "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
