"""The one place that turns user text into HTML: markdown-it-py, then nh3 with an allow-list.

Raw text is stored as written; this output is stored beside it and is the only HTML ever sent.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import nh3
from markdown_it import MarkdownIt

# The Markdown subset: paragraphs, emphasis, code, quotes, lists, links. No images, headings,
# tables or raw HTML: comments are conversation, not documents.
_ENABLED_BLOCK = ["paragraph", "code", "fence", "blockquote", "list"]
_ENABLED_INLINE = ["text", "newline", "escape", "backticks", "emphasis", "link", "autolink", "linkify"]

# Nesting is bounded so a hostile comment cannot make rendering slow or the output enormous.
# Quote markers past MAX_QUOTE_DEPTH are folded into the deepest quote, so no text is dropped;
# MAX_NESTING is markdown-it's own bound for everything else (lists inside quotes inside lists).
MAX_QUOTE_DEPTH = 8
MAX_NESTING = 24
_DEEP_QUOTE = re.compile(r"^((?:[ \t]{0,3}>){" + str(MAX_QUOTE_DEPTH) + r"})(?:[ \t]{0,3}>)+", re.MULTILINE)

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc noopener noreferrer"


def _build_parser() -> MarkdownIt:
    md = MarkdownIt(
        "zero", {"html": False, "linkify": True, "typographer": False, "maxNesting": MAX_NESTING, "breaks": True}
    )
    md.enable(_ENABLED_BLOCK)
    md.enable(_ENABLED_INLINE)
    md.inline.ruler2.enable(["emphasis"])
    md.core.ruler.enable(["linkify"])
    # markdown-it's own link check allows only safe schemes after normalisation; nh3 checks again.
    # (markdown-it-py documents replacing it on the instance; its annotations declare a method.)
    md.validateLink = (  # type: ignore[method-assign]
        lambda url: url.lower().startswith(("http://", "https://", "mailto:"))
    )
    return md


_parser = _build_parser()


def _allowed_attribute(tag: str, attribute: str, value: str) -> str | None:
    # ammonia keeps a few generic attributes (title, lang) by default; the allow-list is stricter.
    if tag == "a" and attribute == "rel":
        return LINK_REL  # nh3 adds it; the filter sees it too
    return value if attribute in ALLOWED_ATTRIBUTES.get(tag, ()) else None


def render(body: str) -> str:
    """Sanitised HTML for a comment body."""
    html = _parser.render(_DEEP_QUOTE.sub(r"\1", body))
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        attribute_filter=_allowed_attribute,
        link_rel=LINK_REL,
        strip_comments=True,
    ).strip()


_LINK_PATTERN = re.compile(r"<a\s", re.IGNORECASE)


def has_links(body_html: str) -> bool:
    return bool(_LINK_PATTERN.search(body_html))


_WORDS = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """Case- and width-folded text, for word lists and repeat detection."""
    return unicodedata.normalize("NFKC", text).casefold()


def fingerprint(body: str) -> str:
    """Same for bodies that differ only in case, spacing or punctuation."""
    words = _WORDS.findall(normalise(body))
    return hashlib.sha256(" ".join(words).encode()).hexdigest()
