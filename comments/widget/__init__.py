"""The embeddable widget: its script, its styles, the counts script, and the demo news page.

The assets are hand-written files served from memory with a strong ETag and a gzipped copy. A
host embeds the unversioned ``/widget/embed.js`` (cached for an hour, then revalidated: a 304);
the script asks for its stylesheet with ``?v=<hash>``, which is cached for a year, immutable.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from comments.models import REPORT_REASONS

bp = Blueprint("widget", __name__, template_folder="templates")

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"embed.js": "text/javascript", "embed.css": "text/css", "count.js": "text/javascript"}
# embed.js names its stylesheet's version with this placeholder, filled in when served.
CSS_VERSION_PLACEHOLDER = "__EMBED_CSS_VERSION__"
# ... and the report reasons, so that the widget offers exactly those the API takes.
REPORT_REASONS_PLACEHOLDER = "__REPORT_REASONS__"
SHORT_CACHE = "public, max-age=3600"
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    mimetype: str
    mtime: float


_assets: dict[str, Asset] = {}
_lock = threading.RLock()  # embed.js builds embed.css first, under the same lock


def _version(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def _trailing_comment(line: bytes) -> int:
    """Where a line's trailing `` // comment`` starts, or -1: only where the code before it has
    closed every string it opened (an even count of each quote, escapes aside)."""
    at = line.find(b" // ")
    if at < 0:
        return -1
    code = re.sub(rb"\\.", b"", line[:at])
    return -1 if code.count(b'"') % 2 or code.count(b"'") % 2 or code.count(b"`") % 2 else at


def _served_script(script: bytes) -> bytes:
    """The script without its comments and indentation: the source explains itself to its
    readers, every host page's reader need not download that (a sixth of the gzipped widget).
    Each line of code stays a line of its own. Safe for embed.js, which has no template literals,
    multi-line strings or regular expressions holding " // "."""
    lines = []
    for line in script.split(b"\n"):
        line = line.strip()
        if line.startswith(b"//"):
            continue
        cut = _trailing_comment(line)
        lines.append(line[:cut].rstrip() if cut >= 0 else line)
    return b"\n".join(lines)


def _served_css(css: bytes) -> bytes:
    """The stylesheet without its comments and the spaces around its punctuation (embed.css
    has no strings holding any of them)."""
    css = re.sub(rb"/\*.*?\*/", b"", css, flags=re.S)
    css = re.sub(rb"\s*([{};,>])\s*", rb"\1", css.strip())
    # ": " inside declaration blocks only: in a selector, "a :hover" is not "a:hover".
    return re.sub(rb"{[^{}]*}", lambda block: re.sub(rb":\s+", b":", block.group(0)), css)


def asset(name: str) -> Asset:
    """The file as served, rebuilt when it changed on disk (a development convenience)."""
    path = STATIC / name
    mtime = path.stat().st_mtime
    if name == "embed.js":
        mtime = max(mtime, (STATIC / "embed.css").stat().st_mtime)
    cached = _assets.get(name)
    if cached is not None and cached.mtime == mtime:
        return cached
    with _lock:
        body = path.read_bytes()
        if name == "embed.js":
            body = body.replace(CSS_VERSION_PLACEHOLDER.encode(), asset("embed.css").etag.encode())
            body = body.replace(
                REPORT_REASONS_PLACEHOLDER.encode(), json.dumps(list(REPORT_REASONS), separators=(",", ":")).encode()
            )
            body = _served_script(body)
        elif name == "embed.css":
            body = _served_css(body)
        built = Asset(body, gzip.compress(body, 9, mtime=0), _version(body), ASSETS[name], mtime)
        _assets[name] = built
        return built


def _serve(name: str) -> Response:
    item = asset(name)
    versioned = request.args.get("v") == item.etag
    if request.if_none_match.contains(item.etag):
        response = Response(status=304)
    # Accept takes a value (a string) in "in"; its type says a list of (value, quality) pairs.
    elif "gzip" in request.accept_encodings:  # type: ignore[comparison-overlap]
        response = Response(item.gzipped, mimetype=item.mimetype)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(item.body, mimetype=item.mimetype)
    response.set_etag(item.etag)
    response.headers["Cache-Control"] = LONG_CACHE if versioned else SHORT_CACHE
    response.vary.add("Accept-Encoding")
    # Any page may load the script; what it may then read is decided by the API's own CORS check.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/widget/embed.js")
def embed_js() -> Response:
    return _serve("embed.js")


@bp.get("/widget/embed.css")
def embed_css() -> Response:
    return _serve("embed.css")


@bp.get("/widget/count.js")
def count_js() -> Response:
    return _serve("count.js")


# --- the demo news page ---------------------------------------------------------------------------

DEMO_SITE = "demo"
DEMO_ARTICLES = {
    "welcome": {
        "title": "Welcome to the demo",
        "section": "Community",
        "standfirst": "This page is a stand-in for your own article page: the comments under it are "
        "the widget, loaded with one script tag.",
        "paragraphs": [
            "Every article on a news site gets its own thread, named by the site's own article id. "
            "The widget below reads it from the comment service, lets readers post and reply, and "
            "shows a reader's own comment at once while the moderation model looks at it.",
            "Comments are checked by a toxicity classifier that runs inside the service. Anything it "
            "is unsure about waits for a moderator; the reader sees it marked as waiting for review.",
            "Try the sort switch, reply to a comment, report one, or switch this page to its dark "
            "theme with the button at the top: the widget follows the page.",
        ],
    },
    "city-budget": {
        "title": "City council agrees next year's budget after a long night",
        "section": "Local politics",
        "standfirst": "Libraries keep their opening hours; the new tram line waits another year.",
        "paragraphs": [
            "After nine hours of debate the council passed the budget by a narrow margin. The "
            "libraries will keep their weekend opening hours, which had been under review since spring.",
            "The tram extension to the northern districts was moved to the following year's plan, "
            "a decision several councillors called a broken promise.",
        ],
    },
    "river-park": {
        "title": "The river park reopens with a new footbridge",
        "section": "City life",
        "standfirst": "Two years of works end with a bridge, a playground and fewer parking spaces.",
        "paragraphs": [
            "The park along the river opened again on Saturday morning, with a footbridge linking "
            "both banks for the first time since the old ferry stopped.",
        ],
    },
}


@bp.get("/demo/")
def demo_page() -> str:
    """A news article page with the widget under it (only when COMMENTS_DEMO_PAGE is on)."""
    if not current_app.config.get("DEMO_PAGE"):
        abort(404)
    key = request.args.get("article", "welcome")
    if key not in DEMO_ARTICLES:
        abort(404)
    article_url = url_for("widget.demo_page", article=key, _external=True)
    others = {k: v for k, v in DEMO_ARTICLES.items() if k != key}
    return render_template(
        "demo.html",
        key=key,
        article=DEMO_ARTICLES[key],
        article_url=article_url,
        others=others,
        site=DEMO_SITE,
        lang=_demo_lang(),
    )


def _demo_lang() -> str:
    lang = request.args.get("lang", "en")
    return lang if lang.isascii() and lang.replace("-", "").isalpha() and len(lang) <= 10 else "en"
