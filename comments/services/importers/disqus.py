"""Disqus's XML export: <thread> elements, then <post> elements pointing at them by dsq:id."""

from __future__ import annotations

from datetime import UTC, datetime

from comments.models import Status
from comments.services.importers import Source, SourceComment, SourceThread
from comments.services.importers.html import to_markdown
from comments.services.importers.safexml import ImportFailed, attribute, child, children, text


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


def parse_date(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ImportFailed(f"{where}: {value!r} is not a date.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_disqus(root, key_from: str = "id") -> Source:
    source = Source(format="disqus")
    for element in children(root, "thread"):
        ref = attribute(element, "id")
        if not ref:
            raise ImportFailed("A <thread> has no dsq:id attribute.")
        identifier = text(element, "id")
        link = text(element, "link")
        key = (identifier if key_from == "id" else link) or link or identifier
        if _bool(text(element, "isDeleted", "false")):
            source.skipped.append(f"disqus thread {ref}: deleted in Disqus (its posts are left out)")
            continue
        if not key:
            source.skipped.append(f"disqus thread {ref}: has neither an identifier nor a link")
            continue
        source.threads[ref] = SourceThread(ref=ref, key=key, title=text(element, "title"), url=link,
                                           closed=_bool(text(element, "isClosed", "false")))
    for element in children(root, "post"):
        ref = attribute(element, "id")
        if not ref:
            raise ImportFailed("A <post> has no dsq:id attribute.")
        thread_ref = attribute(child(element, "thread"), "id")
        if not thread_ref:
            raise ImportFailed(f"Post {ref} names no thread.")
        if thread_ref not in source.threads:
            continue  # a deleted thread's post (already reported) or one without a key
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
        source.comments.append(SourceComment(
            ref=f"disqus:{ref}", thread_ref=thread_ref,
            parent_ref=f"disqus:{parent_ref}" if parent_ref else None,
            author_name=name, author_email=email or None, ip=text(element, "ipAddress") or None,
            created_at=parse_date(text(element, "createdAt"), f"post {ref}"),
            body=to_markdown((message.text or "") if message is not None else ""), status=status))
    return source
