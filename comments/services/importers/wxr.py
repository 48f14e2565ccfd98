"""WordPress's export (WXR): <item> posts with their <wp:comment> elements."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime

from comments.models import Status
from comments.services.importers.html import to_markdown
from comments.services.importers.safexml import children, local, text
from comments.services.importers.source import SkippedItem, Source, SourceComment, SourceThread

STATUSES = {
    "1": Status.PUBLISHED,
    "approve": Status.PUBLISHED,
    "0": Status.HELD,
    "hold": Status.HELD,
    "spam": Status.REJECTED,
    "trash": Status.DELETED,
    "post-trashed": Status.DELETED,
}


def _date(value: str, where: str) -> datetime:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise SkippedItem(f"{where}: {value!r} is not a WordPress date (YYYY-MM-DD HH:MM:SS)") from None


def read_wxr(elements: Iterable[ET.Element], key_from: str = "id") -> Source:
    """From the channel's children, streamed: each <item> (a post or page) with its comments.

    An item or comment that cannot be read is skipped and listed; the rest of the file is imported.
    """
    source = Source(format="wxr")
    for item in elements:
        if local(item.tag) != "item":
            continue
        comments = children(item, "comment")
        if not comments:
            continue
        post_id = text(item, "post_id")
        link = text(item, "link")
        title = text(item, "title")
        if post_id:
            thread_ref = post_id
            key = (post_id if key_from == "id" else link) or post_id
        elif key_from == "url" and link:
            # Old WordPress versions and other tools' WXR leave wp:post_id out; the link is the thread.
            thread_ref, key = f"link:{link}", link
        else:
            source.skipped.append(
                f"wxr item {title[:60]!r}: has no wp:post_id (with --key-from url its "
                f"link would be the key); its {len(comments)} comments are left out"
            )
            continue
        if thread_ref not in source.threads:
            source.threads[thread_ref] = SourceThread(
                ref=thread_ref, key=key, title=title, url=link, closed=text(item, "comment_status") == "closed"
            )
        for element in comments:
            try:
                source.comments.append(_comment(element, thread_ref))
            except SkippedItem as exc:
                source.skipped.append(str(exc))
    return source


def _comment(element: ET.Element, thread_ref: str) -> SourceComment:
    comment_id = text(element, "comment_id")
    if not comment_id:
        raise SkippedItem(
            f"wxr comment of {thread_ref} by {text(element, 'comment_author')[:40]!r}: has no wp:comment_id"
        )
    kind = text(element, "comment_type")
    if kind in ("pingback", "trackback"):
        raise SkippedItem(f"wxr:{comment_id}: a {kind}, not a comment")
    approved = text(element, "comment_approved", "1")
    status = STATUSES.get(approved)
    if status is None:
        raise SkippedItem(f"wxr:{comment_id}: unknown approval state {approved!r}")
    date = text(element, "comment_date_gmt")
    if not date or date.startswith("0000"):
        date = text(element, "comment_date")  # old exports: site-local time, taken as UTC
    parent = text(element, "comment_parent", "0")
    return SourceComment(
        ref=f"wxr:{comment_id}",
        thread_ref=thread_ref,
        parent_ref=f"wxr:{parent}" if parent not in ("", "0") else None,
        author_name=text(element, "comment_author"),
        author_email=text(element, "comment_author_email") or None,
        ip=text(element, "comment_author_IP") or None,
        created_at=_date(date, f"wxr:{comment_id}"),
        body=to_markdown(text(element, "comment_content"), plain_newlines=True),
        status=status,
    )
