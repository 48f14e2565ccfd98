"""Disqus's XML export: <thread> elements, then <post> elements pointing at them by dsq:id."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime

from comments.models import Status
from comments.services import parsing
from comments.services.importers.html import to_markdown
from comments.services.importers.safexml import attribute, child, local, text
from comments.services.importers.source import SkippedItem, Source, SourceComment, SourceThread


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


def parse_date(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsing.in_utc(parsed)
    except ValueError:  # parsing.ParseError too: a moment with no UTC equivalent
        raise SkippedItem(f"{where}: {value!r} is not a date") from None


def read_disqus(elements: Iterable[ET.Element], key_from: str = "id") -> Source:
    """From the root's children, streamed: <thread>s and <post>s (other elements are ignored).

    A thread or post that cannot be read is skipped and listed; the rest of the file is imported.
    """
    source = Source(format="disqus")
    deleted: set[str] = set()
    posts: list[SourceComment] = []
    for element in elements:
        kind = local(element.tag)
        try:
            if kind == "thread":
                _thread(element, key_from, source, deleted)
            elif kind == "post":
                posts.append(_post(element))
        except SkippedItem as exc:
            source.skipped.append(str(exc))
    # Posts of a thread left out (deleted in Disqus, or without a key) are left out with it.
    source.comments = [p for p in posts if p.thread_ref in source.threads]
    for post in posts:
        if post.thread_ref not in source.threads and post.thread_ref not in deleted:
            source.skipped.append(f"{post.ref}: its thread {post.thread_ref} is not in the file")
    return source


def _thread(element: ET.Element, key_from: str, source: Source, deleted: set[str]) -> None:
    ref = attribute(element, "id")
    identifier = text(element, "id")
    link = text(element, "link")
    if not ref:
        raise SkippedItem(f"disqus thread {(identifier or link)[:80]!r}: has no dsq:id attribute (no post can name it)")
    key = (identifier if key_from == "id" else link) or link or identifier
    if _bool(text(element, "isDeleted", "false")):
        deleted.add(ref)
        source.skipped.append(f"disqus thread {ref}: deleted in Disqus (its posts are left out)")
    elif not key:
        deleted.add(ref)
        source.skipped.append(f"disqus thread {ref}: has neither an identifier nor a link")
    else:
        source.threads[ref] = SourceThread(
            ref=ref, key=key, title=text(element, "title"), url=link, closed=_bool(text(element, "isClosed", "false"))
        )


def _post(element: ET.Element) -> SourceComment:
    ref = attribute(element, "id")
    if not ref:
        raise SkippedItem(f"disqus post created {text(element, 'createdAt')[:40]!r}: has no dsq:id attribute")
    thread_ref = attribute(child(element, "thread"), "id")
    if not thread_ref:
        raise SkippedItem(f"disqus:{ref}: names no thread")
    author = child(element, "author")
    email = text(author, "email") if author is not None else ""
    name = (text(author, "name") or text(author, "username")) if author is not None else ""
    if _bool(text(element, "isDeleted", "false")):
        status = Status.DELETED
    elif _bool(text(element, "isSpam", "false")):
        status = Status.REJECTED
    elif text(element, "isApproved", "true").lower() == "false":
        status = Status.HELD
    else:
        status = Status.PUBLISHED
    message = child(element, "message")
    parent_ref = attribute(child(element, "parent"), "id")
    return SourceComment(
        ref=f"disqus:{ref}",
        thread_ref=thread_ref,
        parent_ref=f"disqus:{parent_ref}" if parent_ref else None,
        author_name=name,
        author_email=email or None,
        ip=text(element, "ipAddress") or None,
        created_at=parse_date(text(element, "createdAt"), f"disqus:{ref}"),
        body=to_markdown((message.text or "") if message is not None else ""),
        status=status,
    )
