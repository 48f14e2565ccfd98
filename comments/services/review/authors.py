"""Authors as moderators read and decide on them: the author page (who, their record, their
comments a page at a time) and a change of their status, within the reviewer's sites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from comments.extensions import db
from comments.models import AuthorStatus, Comment, Reason, Thread
from comments.services import readers
from comments.services.review.access import Reviewer, get_author, reviewer_actor
from comments.services.review.queue import queue_of

AUTHOR_PAGE_DEFAULT = 25
AUTHOR_PAGE_MAX = 100


@dataclass(frozen=True)
class AuthorNameUsed:
    name: str
    first_used_at: datetime
    last_used_at: datetime


@dataclass(frozen=True)
class AuthorDetail:
    """The author's record as the API's ``AuthorSchema`` dumps it."""

    id: str
    site: str
    name: str
    badges: list[str]
    verified: bool
    status: str  # in force (a suspension that has run out reads "active")
    until: datetime | None
    status_reason: str
    status_changed_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    counts: dict[str, int]
    reports_received: int
    names: list[AuthorNameUsed]  # most recently used first


@dataclass(frozen=True)
class AuthorComment:
    """One of the author's comments, with where it is and how it was decided."""

    id: int
    parent_id: int | None
    thread_key: str
    thread_title: str | None
    status: str
    queue: str | None
    reasons: list[Reason]
    body: str
    body_html: str
    created_at: datetime
    edited_at: datetime | None
    decided_at: datetime | None
    report_count: int
    version: int


@dataclass(frozen=True)
class AuthorPage:
    author: AuthorDetail
    comments: list[AuthorComment]
    next_cursor: str | None


def detail(author_summary: readers.AuthorSummary) -> AuthorDetail:
    author = author_summary.author
    status = readers.current_status(author)
    return AuthorDetail(
        id=readers.public_id(author),
        site=author.site.slug,
        name=author.name,
        badges=list(author.badges or []),
        verified=author.verified,
        status=status.value,
        until=author.status_until if status == AuthorStatus.SUSPENDED else None,
        status_reason=author.status_reason,
        status_changed_at=author.status_changed_at,
        first_seen_at=author.first_seen_at,
        last_seen_at=author.last_seen_at,
        counts=author_summary.counts,
        reports_received=author_summary.reports_received,
        names=[AuthorNameUsed(n.name, n.first_used_at, n.last_used_at) for n in author_summary.names],
    )


def _threads(comments: list[Comment]) -> dict[int, Thread]:
    """The page's threads in one query (an author's page spans many threads)."""
    ids = {c.thread_id for c in comments}
    if not ids:
        return {}
    return {t.id: t for t in db.session.scalars(select(Thread).where(Thread.id.in_(ids)))}


def author_page(
    reviewer: Reviewer, author_id: str, *, limit: int = AUTHOR_PAGE_DEFAULT, cursor: str | None = None
) -> AuthorPage:
    """The author and a page of their comments, newest first, whatever their status: index seeks
    on ``ix_comments_author_id`` and ``ix_comments_author_id_status``, however many they wrote."""
    author = get_author(reviewer, author_id)
    comments, next_cursor = readers.comments_page(author, limit, cursor)
    threads = _threads(comments)
    return AuthorPage(
        author=detail(readers.summary(author)),
        comments=[
            AuthorComment(
                id=c.id,
                parent_id=c.parent_id,
                thread_key=threads[c.thread_id].key,
                thread_title=threads[c.thread_id].title,
                status=c.status,
                queue=queue_of(c),
                reasons=c.reasons or [],
                body=c.body,
                body_html=c.body_html,
                created_at=c.created_at,
                edited_at=c.edited_at,
                decided_at=c.decided_at,
                report_count=c.report_count,
                version=c.version,
            )
            for c in comments
        ],
        next_cursor=next_cursor,
    )


def change_status(
    reviewer: Reviewer, author_id: str, status: AuthorStatus, *, until: datetime | None = None, reason: str = ""
) -> AuthorDetail:
    """A reviewer's decision on the author (``readers.set_status``: audited as ``author_status_changed``)."""
    author = get_author(reviewer, author_id)
    readers.check_status_change(status, until)
    readers.set_status(author, status, reviewer_actor(reviewer), until=until, reason=reason)
    return detail(readers.summary(author))
