"""Authors as people: one record per site for each signed-in reader and each anonymous author
key, with their names, their comments' outcomes, and what moderators decided about them.

Posting finds (or makes) the author (``for_reader``, ``for_anonymous``); ``check_may_post`` and
``hold_reason`` are what their status does to a new comment; ``set_status`` is a moderator's (or
the recent-history rule's) change, audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from comments.extensions import db
from comments.models import (
    MAX_ID,
    UNKNOWN_AUTHOR_KEYS,
    Author,
    AuthorName,
    AuthorStatus,
    Comment,
    Reason,
    Site,
    Status,
    utcnow,
)
from comments.security import hash_email, keyed_hash
from comments.services import moderation
from comments.services.audit import Actor, record
from comments.services.errors import Forbidden, NotFound, invalid_field
from comments.services.paging import newest_by_id
from comments.services.sso import Reader
from comments.services.statements import rows_changed
from comments.services.threads import rfc3339


def sso_author_key(site: Site, user_id: str) -> str:
    """A signed-in reader's ``author_key``: keyed, so that it says nothing of the host's user id."""
    return keyed_hash("sso-user", f"{site.id}:{user_id}")


def _find(site_id: int, author_key: str) -> Author | None:
    return db.session.execute(
        select(Author).where(Author.site_id == site_id, Author.author_key == author_key)
    ).scalar_one_or_none()


def _get_or_create(site: Site, author_key: str, make: dict[str, object]) -> tuple[Author, bool]:
    author = _find(site.id, author_key)
    if author is not None:
        return author, False
    try:
        # A savepoint: the same new author posting twice at once loses nothing but the race.
        with db.session.begin_nested():
            author = Author(site_id=site.id, author_key=author_key, **make)
            db.session.add(author)
    except IntegrityError:
        author = _find(site.id, author_key)
        if author is None:
            raise
        return author, False
    return author, True


@dataclass(frozen=True)
class ReaderKeys:
    """What a signed-in reader's comment and author record are keyed by, derived once per request
    (two keyed hashes): their ``author_key`` and their token's email's hash (None without one)."""

    author_key: str
    email_hash: str | None


def reader_keys(site: Site, reader: Reader) -> ReaderKeys:
    return ReaderKeys(sso_author_key(site, reader.user_id), hash_email(reader.email) if reader.email else None)


def for_reader(site: Site, reader: Reader, now: datetime | None = None, keys: ReaderKeys | None = None) -> Author:
    """The signed-in reader's author record, with their name and badges as the token says now.
    ``keys``: :func:`reader_keys`, when the caller has them already (a post stores them on the comment)."""
    now = now or utcnow()
    keys = keys or reader_keys(site, reader)
    author, created = _get_or_create(
        site,
        keys.author_key,
        {"sso_user_id": reader.user_id, "verified": True, "first_seen_at": now, "name": reader.username},
    )
    badges = list(reader.badges)
    if author.badges != badges:
        author.badges = badges
    if keys.email_hash is not None:
        author.email_hash = keys.email_hash
    author.url = reader.url or ""
    author.role = reader.role or ""
    if created or author.name != reader.username:
        _record_name(author, reader.username, now)
    author.last_seen_at = now
    return author


def known_reader(site: Site, reader: Reader) -> Author | None:
    """The signed-in reader's author record if they have one (a read: nothing is made)."""
    return _find(site.id, sso_author_key(site, reader.user_id))


def for_anonymous(
    site: Site, author_key: str, name: str, email_hash: str | None, now: datetime | None = None
) -> Author:
    """The record of an anonymous author key (an email hash, else an address hash)."""
    now = now or utcnow()
    author, created = _get_or_create(
        site, author_key, {"email_hash": email_hash, "first_seen_at": now, "name": name, "verified": False}
    )
    if created or author.name != name:
        _record_name(author, name, now)
    author.last_seen_at = max(author.last_seen_at, now)
    return author


def seen(author: Author, name: str, at: datetime) -> None:
    """An author's comment from any moment (an import's are old, and come in any order)."""
    author.first_seen_at = min(author.first_seen_at, at)
    author.last_seen_at = max(author.last_seen_at, at)
    if name and author.name != name:
        _record_name(author, name, at)


def _record_name(author: Author, name: str, now: datetime) -> None:
    if not name:
        return  # a deleted comment's author has no name to remember
    author.name = name
    db.session.flush()  # the author's id, for a new one
    changed = (
        update(AuthorName)
        .where(AuthorName.author_id == author.id, AuthorName.name == name)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(changed) == 0:
        try:
            with db.session.begin_nested():  # the same author's other post may write it meanwhile
                db.session.add(AuthorName(author_id=author.id, name=name, first_used_at=now, last_used_at=now))
        except IntegrityError:
            pass


def author_of(comment: Comment) -> Author:
    """A comment's author record (made from the comment for one whose record was erased)."""
    if comment.author is not None:
        return comment.author
    key = comment.author_key
    if key in UNKNOWN_AUTHOR_KEYS:
        # The author of this one comment, whoever they were: not everyone erased or purged at once.
        key = f"{key}:{comment.id}"
    author = for_anonymous(comment.site, key, comment.author_name or "", comment.author_email_hash)
    comment.author_id = author.id
    return author


# --- what a status does -----------------------------------------------------------------------


def current_status(author: Author, now: datetime | None = None) -> AuthorStatus:
    """The status in force: a suspension that has run out is over (nothing needs to lift it)."""
    status = AuthorStatus(author.status)
    if (
        status == AuthorStatus.SUSPENDED
        and author.status_until is not None
        and author.status_until <= (now or utcnow())
    ):
        return AuthorStatus.ACTIVE
    return status


def check_may_post(author: Author) -> None:
    """A signed-in author who is banned or suspended is told so; anonymous ones are held instead
    (telling a ban to whoever next shares an address would only teach them to change it)."""
    if not author.verified:
        return
    status = current_status(author)
    if status == AuthorStatus.BANNED:
        raise Forbidden("author_banned", "You can no longer comment on this site.")
    if status == AuthorStatus.SUSPENDED:
        until = rfc3339(author.status_until) if author.status_until else None
        message = "You cannot comment on this site until " + (until or "a moderator lifts the suspension") + "."
        raise Forbidden("author_suspended", message, {"until": until})


def hold_reason(author: Author) -> Reason | None:
    """Why the author's new comment waits for a moderator, if it must."""
    status = current_status(author)
    if status == AuthorStatus.PREMOD:
        return {"kind": "rule", "code": "author_premod", "effect": moderation.HOLD}
    if status in (AuthorStatus.BANNED, AuthorStatus.SUSPENDED):
        return {"kind": "rule", "code": "author_banned", "effect": moderation.HOLD}
    return None


# The audit action of every change of an author's status (the audit log filters on it).
AUTHOR_STATUS_CHANGED = "author_status_changed"


# A suspension longer than this is a ban in all but name; an end past it is a typo (9999-12-31).
LONGEST_SUSPENSION = timedelta(days=3660)


def check_status_change(status: AuthorStatus, until: datetime | None, now: datetime | None = None) -> None:
    """What a moderator may ask of ``set_status`` (the API and the dashboard alike): a suspension
    ends at a time still to come, at most ten years away (:data:`LONGEST_SUSPENSION`), and only a
    suspension has an end (an "until" on a ban or on premod would promise a lifting that no one
    performs). Raises a 422 naming ``until``."""
    if status == AuthorStatus.SUSPENDED:
        if until is None:
            raise invalid_field("until", "until_required", "A suspension needs `until`, the moment it ends.")
        now = now or utcnow()
        if until <= now:
            raise invalid_field("until", "until_past", "The suspension must end in the future.")
        if until > now + LONGEST_SUSPENSION:
            raise invalid_field(
                "until", "until_too_far", "A suspension lasts at most ten years; ban the author instead."
            )
    elif until is not None:
        raise invalid_field("until", "until_not_allowed", "Only a suspension has an `until`.")


def set_status(
    author: Author,
    status: AuthorStatus,
    actor: Actor,
    *,
    until: datetime | None = None,
    reason: str = "",
    comment: Comment | None = None,
    code: str = "author_status",
) -> Author:
    """Change what moderators decided about the author; audited (``author_status_changed``)."""
    before = author.status
    now = utcnow()
    author.status = status.value
    author.status_until = until if status == AuthorStatus.SUSPENDED else None
    author.status_reason = reason[:500]
    author.status_changed_at = now
    reasons: list[dict[str, object]] = [
        {
            "kind": actor.type,
            "code": code,
            "author_id": public_id(author),
            "from": before,
            "to": status.value,
            "until": rfc3339(author.status_until) if author.status_until else None,
            "reason": reason,
        }
    ]
    record(AUTHOR_STATUS_CHANGED, actor, comment=comment, site_id=author.site_id, reasons=reasons)
    db.session.flush()
    return author


# --- reading ----------------------------------------------------------------------------------


def public_id(author: Author) -> str:
    return str(author.id)


def get_author(author_id: str) -> Author:
    """The author an API id names, or 404 (``author_not_found``)."""
    if not author_id.isdecimal() or not 0 < int(author_id) <= MAX_ID or author_id != str(int(author_id)):
        raise NotFound("author_not_found", "No such author.")
    author = db.session.get(Author, int(author_id))
    if author is None:
        raise NotFound("author_not_found", "No such author.")
    return author


@dataclass
class AuthorSummary:
    """An author as moderators see them: the record, their names, their comments' outcomes."""

    author: Author
    counts: dict[str, int]  # per comment status, every status present
    reports_received: int  # distinct readers' reports, over all their comments
    names: list[AuthorName] = field(default_factory=list)  # most recently used first


def counts(author_ids: list[int]) -> dict[int, dict[str, int]]:
    """Comments per status for each author: one grouped, index-only read for a page of authors."""
    found: dict[int, dict[str, int]] = {a: dict.fromkeys((s.value for s in Status), 0) for a in author_ids}
    if not author_ids:
        return found
    rows = db.session.execute(
        select(Comment.author_id, Comment.status, func.count())
        .where(Comment.author_id.in_(author_ids))
        .group_by(Comment.author_id, Comment.status)
    )
    for author_id, status, count in rows:
        if author_id is not None:  # the IN above leaves none out; to the type checker it may be null
            found[author_id][status] = count
    return found


@dataclass(frozen=True)
class AuthorBrief:
    """An author as moderators see them beside each of their comments (queue items, decisions)."""

    id: str  # public_id
    name: str
    badges: list[str]
    verified: bool
    status: str  # current_status: a suspension that has run out reads "active"
    until: datetime | None  # the end of a suspension in force
    counts: dict[str, int]  # their comments per status


def brief(author: Author, author_counts: dict[str, int], now: datetime | None = None) -> AuthorBrief:
    status = current_status(author, now)
    return AuthorBrief(
        id=public_id(author),
        name=author.name,
        badges=list(author.badges or []),
        verified=author.verified,
        status=status.value,
        until=author.status_until if status == AuthorStatus.SUSPENDED else None,
        counts=author_counts,
    )


def briefs(author_ids: Iterable[int | None]) -> dict[int, AuthorBrief]:
    """The briefs of a page's authors by ``Author.id``: two queries whatever the page's size (the
    authors, and their counts grouped in one index-only read). A comment whose author record was
    erased has no ``author_id`` and no brief."""
    ids = sorted({i for i in author_ids if i is not None})
    if not ids:
        return {}
    authors = db.session.scalars(select(Author).where(Author.id.in_(ids))).all()
    per_author = counts([a.id for a in authors])
    now = utcnow()
    return {a.id: brief(a, per_author[a.id], now) for a in authors}


def summary(author: Author) -> AuthorSummary:
    # Counts and reports in one pass over ix_comments_author_id_status (author_id, status,
    # report_count): index-only, however many comments the author wrote.
    per_status = dict.fromkeys((s.value for s in Status), 0)
    reports = 0
    rows = db.session.execute(
        select(Comment.status, func.count(), func.coalesce(func.sum(Comment.report_count), 0))
        .where(Comment.author_id == author.id)
        .group_by(Comment.status)
    )
    for status, count, reported in rows:
        per_status[status] = count
        reports += int(reported)
    names = list(
        db.session.scalars(
            select(AuthorName).where(AuthorName.author_id == author.id).order_by(AuthorName.last_used_at.desc())
        )
    )
    return AuthorSummary(author, per_status, reports, names)


AUTHOR_COMMENTS_SORT = "author"


def comments_page(author: Author, limit: int, cursor: str | None) -> tuple[list[Comment], str | None]:
    """The author's comments, newest first, every status (moderators see them all)."""
    return newest_by_id(
        select(Comment).where(Comment.author_id == author.id), Comment.id, AUTHOR_COMMENTS_SORT, limit, cursor
    )
