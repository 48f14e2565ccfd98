"""The review queue: what waits, why, and the decisions moderators make on it.

The moderation API and the dashboard both call these functions; neither holds a rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm.exc import StaleDataError

from comments.extensions import db
from comments.models import (QUEUE_VALUES, QUEUES_WHERE, SCORE_KEY, AuditEvent, Ban, Comment, Moderator, Report,
                             Site, Status, Thread, WebhookEvent, utcnow)
from comments.services import figures, moderation, paging, webhooks
from comments.services.audit import Actor, record
from comments.services.errors import Conflict, Forbidden, NotFound
from comments.services.sites import get_site
from comments.services.threads import comment_json, find_thread, rfc3339

QUEUES = QUEUE_VALUES
QUEUE_SORTS = ("oldest", "newest", "score")
ACTIONS = ("approve", "reject")
# The short list of reasons a moderator can give for a rejection (code, words); free text stays
# possible through the API.
REJECT_REASONS = (("spam", "Spam"), ("abuse", "Abuse or harassment"), ("hate", "Hate speech"),
                  ("off_topic", "Off topic"), ("personal_data", "Personal data"), ("other", "Other"))


@dataclass(frozen=True)
class HostReviewer:
    """A host site deciding on its own comments with an API key that has the ``moderate`` scope."""

    site_slug: str
    key_prefix: str
    id: None = None

    @property
    def site_slugs(self) -> list[str]:
        return [self.site_slug]

    @property
    def email(self) -> str:
        return f"host key {self.key_prefix}…"

    def may_moderate(self, site_slug: str) -> bool:
        return site_slug == self.site_slug


Reviewer = Moderator | HostReviewer


def reviewer_actor(reviewer: Reviewer) -> Actor:
    if isinstance(reviewer, HostReviewer):
        return Actor("host", f"key:{reviewer.key_prefix}")
    return Actor("moderator", str(reviewer.id))


DECIDERS = figures.DECIDERS


def _queue_condition(queue: str):
    """Which comments ``queue`` holds: the text of ``models.QUEUES_WHERE`` (literal statuses), so
    that the queue's partial index is used."""
    return QUEUES_WHERE[queue]


def _visible_sites(moderator: Reviewer, site_slug: str | None) -> list[int] | None:
    """Site ids the moderator may see (None: all)."""
    if site_slug:
        site = get_site(site_slug)
        if site is None:
            raise NotFound("site_not_found", f"No site '{site_slug}'.")
        if not moderator.may_moderate(site.slug):
            raise Forbidden("site_not_allowed", f"You do not moderate '{site_slug}'.")
        return [site.id]
    if not moderator.site_slugs:
        return None
    return list(db.session.execute(select(Site.id).where(Site.slug.in_(moderator.site_slugs))).scalars())


def _reason_condition(reason: str):
    # Codes are [a-z_] only (the API and the dashboard check), so no LIKE wildcard comes from a client.
    return literal(" ").concat(Comment.reason_codes).concat(" ").like(f"% {reason} %")


# --- cursors ----------------------------------------------------------------------------------

def _encode(sort: str, comment: Comment) -> str:
    if sort == "score":
        return paging.encode_cursor(sort, [comment.max_score if comment.max_score is not None else -1.0,
                                           comment.id])
    return paging.date_cursor(sort, comment)


_SCORE_POSITION = (paging.SCORE, paging.ID)


@dataclass
class QueuePage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def list_queue(moderator: Reviewer, queue: str, *, site_slug: str | None = None, reason: str | None = None,
               sort: str = "oldest", limit: int = 25, cursor: str | None = None) -> QueuePage:
    query = select(Comment).where(_queue_condition(queue))
    site_ids = _visible_sites(moderator, site_slug)
    if site_ids is not None:
        query = query.where(Comment.site_id.in_(site_ids))
    if reason:
        query = query.where(_reason_condition(reason))
    shape = _SCORE_POSITION if sort == "score" else paging.DATE_POSITION
    position = paging.decode_cursor(sort, cursor, shape) if cursor else None
    if sort in ("oldest", "newest"):
        query = paging.order_by_date(query, sort == "newest", position)
    else:
        if position:
            query = query.where(or_(SCORE_KEY < position[0],
                                    and_(SCORE_KEY == position[0], Comment.id > position[1])))
        # The indexed expression itself (models.SCORE_KEY): the sort reads ix_comments_*_score.
        query = query.order_by(SCORE_KEY.desc(), Comment.id)
    comments = list(db.session.execute(query.limit(limit + 1)).scalars())
    next_cursor = _encode(sort, comments[limit - 1]) if len(comments) > limit else None
    comments = comments[:limit]
    return QueuePage([queue_item(c, queue) for c in comments], next_cursor)


def _reports(comment: Comment) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Report).where(Report.comment_id == comment.id).order_by(Report.created_at)).scalars()
    return [{"reason": r.reason, "note": r.note, "created_at": rfc3339(r.created_at)} for r in rows]


def moderator_view(comment: Comment) -> dict[str, Any]:
    """A comment as moderators see it: the reader's view plus scores and the version to decide on."""
    data = comment_json(comment)
    data.pop("replies")
    if comment.status == Status.DELETED:
        data.update(author_name=comment.author_name, body=comment.body, body_html=comment.body_html)
    data.update(version=comment.version, scores=comment.scores, model=comment.model_name,
                scored_at=rfc3339(comment.scored_at), report_count=comment.report_count,
                decided_at=rfc3339(comment.decided_at), author_key=comment.author_key[:16])
    return data


def queue_item(comment: Comment, queue: str) -> dict[str, Any]:
    thread: Thread = comment.thread
    parent = comment.parent
    return {
        "queue": queue,
        "comment": moderator_view(comment),
        "thread": {"site": comment.site.slug, "key": thread.key, "title": thread.title, "url": thread.url},
        "parent": moderator_view(parent) if parent is not None else None,
        "reasons": comment.reasons or [],
        "reports": _reports(comment) if comment.report_count else [],
        "arrived_at": rfc3339(comment.edited_at or comment.created_at),
    }


# --- decisions --------------------------------------------------------------------------------

def _waiting(comment: Comment) -> bool:
    return comment.status in (Status.HELD, Status.PENDING) or (
        comment.status == Status.PUBLISHED and comment.reported_at is not None)


def last_decision(comment_id: int) -> dict[str, Any] | None:
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.comment_id == comment_id, AuditEvent.actor_type.in_(DECIDERS),
                                 AuditEvent.action.in_(("approved", "rejected", "decision_undone")))
        .order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    if event is None:
        return None
    moderator = (db.session.get(Moderator, int(event.actor_id))
                 if event.actor_id and event.actor_type == "moderator" else None)
    return {"action": event.action, "status": event.to_status, "at": rfc3339(event.created_at),
            "by": moderator.email if moderator else event.actor_id}


def _already_decided(comment: Comment) -> Conflict:
    decision = last_decision(comment.id)
    if decision:
        message = f"Already {decision['action']} by {decision['by']} at {decision['at']}."
    else:
        message = f"This comment is no longer waiting (it is {comment.status})."
    return Conflict("already_decided", message,
                    details={"current": {"status": comment.status, "version": comment.version,
                                         "decision": decision}})


def decide(moderator: Reviewer, comment_id: int, action: str, *, reason: str = "",
           expected_version: int | None = None, ban_author: bool = False) -> Comment:
    """Approve or reject. Without ``expected_version`` only a waiting comment can be decided;
    with it, any comment whose version still matches (changing an earlier decision)."""
    comment = get_comment(moderator, comment_id)
    if comment.status == Status.DELETED:
        raise Conflict("not_decidable", "Its author deleted this comment.")
    if expected_version is not None and expected_version != comment.version:
        raise _already_decided(comment)
    if expected_version is None and not _waiting(comment):
        raise _already_decided(comment)
    new_status = Status.PUBLISHED if action == "approve" else Status.REJECTED
    actor = reviewer_actor(moderator)
    # What the decision overwrites, so that ``undo_decision`` can put it back exactly.
    note = [{"kind": actor.type, "code": action, "reason": reason, "moderator": moderator.email,
             "was_reported_at": rfc3339(comment.reported_at), "was_decided_at": rfc3339(comment.decided_at),
             "ban_created": bool(ban_author and not _is_banned(comment))}]
    try:
        comment.reported_at = None
        moderation.change_status(comment, new_status, actor, "approved" if action == "approve" else "rejected",
                                 audit_reasons=(comment.reasons or []) + note)
        if ban_author:
            _ban(moderator, comment, reason)
        webhooks.emit(comment.site_id, WebhookEvent.DECIDED.value, lambda: webhooks.comment_data(
            comment, decision={"action": action, "reason": reason, "by": {"type": actor.type, "id": (
                moderator.email if actor.type == "moderator" else actor.id)}}), comment_id=comment.id)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise _already_decided(db.session.get(Comment, comment_id)) from None
    return comment


def _find_ban(comment: Comment) -> Ban | None:
    return db.session.execute(select(Ban).where(Ban.site_id == comment.site_id,
                                                Ban.author_key == comment.author_key)).scalar()


def _is_banned(comment: Comment) -> bool:
    return _find_ban(comment) is not None


def _ban(moderator: Reviewer, comment: Comment, reason: str) -> None:
    exists = _find_ban(comment)
    if exists is None:
        db.session.add(Ban(site_id=comment.site_id, author_key=comment.author_key, reason=reason,
                           moderator_id=moderator.id))
    actor = reviewer_actor(moderator)
    record("author_banned", actor, comment=comment, reasons=[{"kind": actor.type, "code": "ban", "reason": reason}])


def ban_author(moderator: Reviewer, comment_id: int, reason: str = "") -> None:
    comment = get_comment(moderator, comment_id)
    _ban(moderator, comment, reason)
    db.session.commit()


# --- undo -------------------------------------------------------------------------------------

UNDO_SECONDS = 60  # the dashboard offers undo for a few seconds; the server allows some slack
DECISION_ACTIONS = ("approved", "rejected")


def undo_decision(moderator: Reviewer, comment_id: int, *, window_seconds: int = UNDO_SECONDS) -> Comment:
    """Put a comment back where it was before this moderator's last decision on it.

    Only the moderator who decided may undo, only within ``window_seconds``, and only while
    nothing else changed the comment since; the undo goes through ``change_status`` and is
    recorded in the audit log like any other change (a ban the decision created is lifted too).
    """
    comment = get_comment(moderator, comment_id)
    event = db.session.execute(
        select(AuditEvent).where(AuditEvent.comment_id == comment_id)
        .order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    if event is not None and event.action == "author_banned":
        # The ban that came with the decision is written after it; look one further back.
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.comment_id == comment_id, AuditEvent.id < event.id)
            .order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    actor = reviewer_actor(moderator)
    if (event is None or event.action not in DECISION_ACTIONS or event.actor_type not in DECIDERS
            or event.to_status != comment.status or not event.from_status):
        raise Conflict("nothing_to_undo", "This comment has changed since the decision; there is nothing to undo.")
    if (event.actor_type, event.actor_id) != (actor.type, actor.id):
        raise Conflict("nothing_to_undo", "Only the moderator who decided can undo the decision.")
    if (utcnow() - event.created_at).total_seconds() > window_seconds:
        raise Conflict("undo_expired", "It is too late to undo this decision; decide again instead.")
    note = next((r for r in reversed(event.reasons or []) if r.get("kind") == actor.type), {})
    try:
        moderation.change_status(comment, Status(event.from_status), actor, "decision_undone",
                                 audit_reasons=[{"kind": actor.type, "code": "undo", "undid": event.action,
                                                 "event_id": event.id, "moderator": moderator.email}])
        comment.reported_at = _parse_time(note.get("was_reported_at"))
        comment.decided_at = _parse_time(note.get("was_decided_at"))
        if note.get("ban_created"):
            ban = _find_ban(comment)
            if ban is not None:
                db.session.delete(ban)
                record("author_unbanned", actor, comment=comment,
                       reasons=[{"kind": actor.type, "code": "undo", "event_id": event.id}])
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise _already_decided(db.session.get(Comment, comment_id)) from None
    return comment


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- what a moderator may see -------------------------------------------------------------------

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns


def get_comment(moderator: Reviewer, comment_id: int) -> Comment:
    """A comment on one of the moderator's sites (404 otherwise, 403 for another site's)."""
    if not 0 < comment_id <= MAX_ID:
        # PostgreSQL refuses to compare an integer column with a larger number (a 500, not a 404).
        raise NotFound("comment_not_found", "No such comment.")
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("comment_not_found", "No such comment.")
    if not moderator.may_moderate(comment.site.slug):
        raise Forbidden("site_not_allowed", "You do not moderate this site.")
    return comment


def visible_sites(moderator: Moderator) -> list[Site]:
    query = select(Site).order_by(Site.slug)
    if moderator.site_slugs:
        query = query.where(Site.slug.in_(moderator.site_slugs))
    return list(db.session.execute(query).scalars())


def site_for(moderator: Moderator, site_slug: str) -> Site:
    ids = _visible_sites(moderator, site_slug)
    assert ids is not None
    return db.session.get(Site, ids[0])


# Queue counts stop here: "1000+" tells a moderator as much as 51,234 does, and counting every
# held comment of a large history cost a scan per queue on every dashboard page.
COUNT_LIMIT = 1000


_QUEUE_DATES = {"held": Comment.created_at, "rejected": Comment.created_at, "reported": Comment.reported_at,
                "approved": Comment.decided_at}


def bounded_count(queue: str, site_ids: list[int] | None, reason: str | None = None) -> int:
    """How many items ``queue`` holds, counted up to ``COUNT_LIMIT + 1`` (more than the limit:
    ``COUNT_LIMIT + 1``); a bounded read of the queue's index, whatever the history."""
    query = select(Comment.id).where(_queue_condition(queue))
    if site_ids is not None:
        query = query.where(Comment.site_id.in_(site_ids))
    if reason:
        query = query.where(_reason_condition(reason))
    # In the order of the queue's partial index: without it SQLite scans ix_comments_site_status
    # from its first entry, through every published comment before the first rejected one.
    limited = query.order_by(_QUEUE_DATES[queue], Comment.id).limit(COUNT_LIMIT + 1).subquery()
    return db.session.execute(select(func.count()).select_from(limited)).scalar_one()


def queue_counts(moderator: Moderator, *, site_slug: str | None = None,
                 reason: str | None = None) -> dict[str, int]:
    """How many items each queue holds (up to ``COUNT_LIMIT + 1``), with ``list_queue``'s filters."""
    site_ids = _visible_sites(moderator, site_slug)
    return {queue: bounded_count(queue, site_ids, reason) for queue in QUEUES}


def queue_of(comment: Comment) -> str | None:
    """The review queue a comment is in now (None: pending or deleted)."""
    if comment.status == Status.HELD:
        return "held"
    if comment.status == Status.REJECTED:
        return "rejected"
    if comment.status == Status.PUBLISHED:
        if comment.reported_at is not None:
            return "reported"
        if comment.decided_at is not None:
            return "approved"
    return None


def author_comments(moderator: Moderator, comment: Comment, limit: int = 50) -> list[dict[str, Any]]:
    """The author's other comments on the same site (by email hash, else IP hash), newest first."""
    get_comment(moderator, comment.id)
    rows = db.session.execute(
        select(Comment).where(Comment.site_id == comment.site_id, Comment.author_key == comment.author_key,
                              Comment.id != comment.id)
        .order_by(Comment.created_at.desc(), Comment.id.desc()).limit(limit)).scalars()
    return [{"comment": moderator_view(c), "thread": {"key": c.thread.key, "title": c.thread.title},
             "queue": queue_of(c)} for c in rows]


THREAD_VIEW_PAGE = 100


@dataclass
class ThreadView:
    thread: Thread
    rows: list[dict[str, Any]]
    next_cursor: str | None


def thread_comments(moderator: Moderator, site_slug: str, key: str, *, limit: int = THREAD_VIEW_PAGE,
                    cursor: str | None = None) -> ThreadView:
    """A thread as moderators see it, a page at a time: ``limit`` comments whatever their status,
    in date order across pages (an index range, however big the thread) and in reading order
    within the page (replies under their parents; a reply whose parent is on an earlier page
    starts its own branch at its depth)."""
    site = site_for(moderator, site_slug)
    thread = find_thread(site, key)
    if thread is None:
        raise NotFound("thread_not_found", "No such thread.")
    position = paging.decode_cursor("thread", cursor, paging.DATE_POSITION) if cursor else None
    query = paging.order_by_date(select(Comment).where(Comment.thread_id == thread.id), False, position)
    rows = list(db.session.execute(query.limit(limit + 1)).scalars())
    next_cursor = paging.date_cursor("thread", rows[limit - 1]) if len(rows) > limit else None
    rows = rows[:limit]
    on_page = {row.id for row in rows}
    children: dict[int | None, list[Comment]] = {}
    for row in rows:
        children.setdefault(row.parent_id if row.parent_id in on_page else None, []).append(row)
    ordered: list[dict[str, Any]] = []

    def walk(parent_id: int | None) -> None:
        for row in children.get(parent_id, []):
            ordered.append({"comment": moderator_view(row), "depth": row.depth, "queue": queue_of(row)})
            walk(row.id)

    walk(None)
    return ThreadView(thread, ordered, next_cursor)


# --- the audit log ----------------------------------------------------------------------------

def audit_events(moderator: Reviewer, *, comment_id: int | None = None, site_slug: str | None = None,
                 limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    query = select(AuditEvent)
    site_ids = _visible_sites(moderator, site_slug)
    if site_ids is not None:
        query = query.where(AuditEvent.site_id.in_(site_ids))
    if comment_id is not None:
        query = query.where(AuditEvent.comment_id == comment_id)
    if cursor:
        (before_id,) = paging.decode_cursor("audit", cursor, (paging.ID,))
        query = query.where(AuditEvent.id < before_id)
    events = list(db.session.execute(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).scalars())
    next_cursor = paging.encode_cursor("audit", [events[limit - 1].id]) if len(events) > limit else None
    moderators = {str(m.id): m.email for m in db.session.execute(select(Moderator)).scalars()}
    return [{
        "id": e.id, "comment_id": e.comment_id, "action": e.action,
        "actor": {"type": e.actor_type,
                  "id": moderators.get(e.actor_id or "", e.actor_id) if e.actor_type == "moderator" else e.actor_id},
        "from_status": e.from_status, "to_status": e.to_status, "reasons": e.reasons,
        "at": rfc3339(e.created_at),
    } for e in events[:limit]], next_cursor


# --- figures for metrics and the dashboard ----------------------------------------------------

@dataclass
class QueueFigures:
    by_status: dict[str, int]
    queue_depth: dict[str, int]
    oldest_held_seconds: float


def queue_figures() -> QueueFigures:
    by_status = dict(db.session.execute(select(Comment.status, func.count()).group_by(Comment.status)).all())
    depth = {}
    for queue in ("held", "reported"):
        depth[queue] = db.session.execute(
            select(func.count()).select_from(Comment).where(_queue_condition(queue))).scalar_one()
    oldest = db.session.execute(
        select(func.min(Comment.created_at)).where(Comment.status == Status.HELD.value)).scalar()
    if isinstance(oldest, str):  # SQLite returns aggregates of the type decorator's column as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    return QueueFigures({s.value: int(by_status.get(s.value, 0)) for s in Status}, depth, age)
