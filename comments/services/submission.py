"""The submission pipeline: validate, render, apply the site's rules, decide, store, audit.

Rules are plain functions over a ``Draft``. A rule either refuses the submission outright (raises a
ServiceError: closed thread, duplicate) or returns a reason with an effect (hold, reject, note).
The classifier joins as a later step: when scoring is on, the comment is stored ``pending`` with the
rules' reasons, and the worker calls ``moderation.outcome`` again with the scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, and_, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError

from comments import metrics, transaction
from comments.extensions import db
from comments.models import Author, Comment, CommentRevision, Reason, Site, Status, Thread, UTCDateTime, utcnow
from comments.security import hash_email, hash_ip, new_nonce
from comments.services import moderation, readers, recent_history, rendering, sso
from comments.services.audit import Actor
from comments.services.errors import Conflict, Forbidden, invalid_field
from comments.services.sites import effective_settings
from comments.services.threads import find_thread
from comments.services.validation import TextError, check_author_name, check_body, check_thread_key


@dataclass
class NewComment:
    """A submission as any client sends it."""

    body: str
    author_name: str | None  # required unless ``reader`` is set (then ignored)
    author_email: str | None = None
    parent_id: int | None = None
    client_ip: str | None = None
    thread_title: str | None = None
    thread_url: str | None = None
    reader: sso.Reader | None = None  # signed in with the host's token: the name comes from it


@dataclass
class Draft:
    """Everything the rules look at."""

    site: Site
    settings: dict[str, Any]
    thread: Thread
    parent: Comment | None
    body: str
    body_html: str
    author_name: str
    author_key: str
    author: Author
    fingerprint: str
    now: datetime
    editing: Comment | None = None  # set when an author edits: the comment itself is not history
    history: AuthorHistory | None = None  # filled by author_history() on first use


Rule = Callable[[Draft], Reason | None]


class Scoring(Protocol):
    """The classifier's seam: whether new text waits for scores, and how it is handed over."""

    enabled: bool

    def enqueue(self, comment_ids: Iterable[int]) -> None: ...


@dataclass
class SubmissionResult:
    comment: Comment
    edit_token_nonce: str
    # Its id and status, read before the owner's commit expires the object.
    comment_id: int
    status: str
    editable_until: datetime  # when the author's edit window closes

    @property
    def published(self) -> bool:
        return self.status == Status.PUBLISHED


# --- rules ------------------------------------------------------------------------------------


def thread_open(draft: Draft) -> None:
    if draft.thread.closed:
        raise Forbidden("thread_closed", "This thread is closed to new comments.")


@dataclass(frozen=True)
class AuthorHistory:
    """What the rules need to know about the author's other comments on this site."""

    duplicate_here: bool  # the same words in this thread, recently, not rejected or deleted
    repeated_elsewhere: bool  # the same words under another article, recently
    approved_before: bool  # any published comment
    rejected_recently: int  # rejected comments in the last 30 days


# An author with this many rejected comments in the last 30 days is held until a moderator looks.
REJECTIONS_BEFORE_HOLD = 2
HISTORY_DAYS = 30


def _history_statement() -> Select[bool, bool, bool, int, int]:
    """Built once: constructing SQLAlchemy expressions costs more than running this query.

    Each part is an index seek, not a scan of the author's comments: the same words are found by
    fingerprint (ix_comments_author_words), the author's approved and rejected comments by status
    (ix_comments_author_status). Posting does not slow down as an author (or many readers behind
    one address, who share an author key without an email) piles up comments.
    """
    author = and_(
        Comment.site_id == bindparam("site_id"),
        Comment.author_key == bindparam("author_key"),
        Comment.id != bindparam("exclude_id"),
    )
    same_words = and_(author, Comment.body_fingerprint == bindparam("fingerprint"))
    duplicate = exists().where(
        same_words,
        Comment.thread_id == bindparam("thread_id"),
        Comment.created_at >= bindparam("duplicate_since", type_=UTCDateTime),
        Comment.status.not_in([Status.REJECTED.value, Status.DELETED.value]),
    )
    repeat = exists().where(
        same_words,
        Comment.thread_id != bindparam("thread_id"),
        Comment.created_at >= bindparam("repeat_since", type_=UTCDateTime),
    )
    published = exists().where(author, Comment.status == Status.PUBLISHED.value)
    rejected = (
        select(func.count())
        .where(
            author,
            Comment.status == Status.REJECTED.value,
            Comment.created_at >= bindparam("rejected_since", type_=UTCDateTime),
        )
        .scalar_subquery()
    )
    return select(
        duplicate.select().scalar_subquery(),
        repeat.select().scalar_subquery(),
        published.select().scalar_subquery(),
        rejected,
    )


_HISTORY = _history_statement()
# A window switched off (0 seconds) looks back to a moment after now: nothing matches.
_NEVER = timedelta(days=-1)


def author_history(draft: Draft) -> AuthorHistory:
    """One statement of index seeks into the author's comments, computed once per draft."""
    if draft.history is not None:
        return draft.history
    settings = draft.settings

    def since(seconds: int) -> datetime:
        return draft.now - (timedelta(seconds=seconds) if seconds else _NEVER)

    row = db.session.execute(
        _HISTORY,
        {
            "site_id": draft.site.id,
            "author_key": draft.author_key,
            "thread_id": draft.thread.id,
            "fingerprint": draft.fingerprint,
            "exclude_id": draft.editing.id if draft.editing else -1,
            "duplicate_since": since(settings["duplicate_window_seconds"]),
            "repeat_since": since(settings["repeat_window_seconds"]),
            "rejected_since": draft.now - timedelta(days=HISTORY_DAYS),
        },
    ).one()
    draft.history = AuthorHistory(bool(row[0]), bool(row[1]), bool(row[2]), int(row[3]))
    return draft.history


def not_a_duplicate(draft: Draft) -> None:
    if author_history(draft).duplicate_here:
        raise Conflict("duplicate_comment", "You have already posted this comment in this thread.")


def _word_pattern(words: list[str]) -> re.Pattern[str] | None:
    cleaned = sorted({rendering.normalise(w).strip() for w in words if w.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in cleaned) + r")(?!\w)")


def _matches(draft: Draft, words: list[str]) -> list[str]:
    pattern = _word_pattern(words)
    if pattern is None:
        return []
    text = rendering.normalise(draft.author_name + "\n" + draft.body)
    return sorted(set(pattern.findall(text)))


def banned_words(draft: Draft) -> Reason | None:
    found = _matches(draft, draft.settings["banned_words"])
    if found:
        return {"kind": "rule", "code": "banned_word", "effect": moderation.REJECT, "words": found}
    return None


def suspect_words(draft: Draft) -> Reason | None:
    found = _matches(draft, draft.settings["suspect_words"])
    if found:
        return {"kind": "rule", "code": "suspect_word", "effect": moderation.HOLD, "words": found}
    return None


def premoderation(draft: Draft) -> Reason | None:
    mode = draft.settings["premoderation"]
    if mode == "all":
        return {"kind": "rule", "code": "premoderation_all", "effect": moderation.HOLD}
    if mode == "links" and rendering.has_links(draft.body_html):
        return {"kind": "rule", "code": "premoderation_links", "effect": moderation.HOLD}
    if mode == "first-comment":
        if draft.editing is not None and draft.editing.status == Status.PUBLISHED:
            return None
        if not author_history(draft).approved_before:
            return {"kind": "rule", "code": "premoderation_first_comment", "effect": moderation.HOLD}
    return None


def not_a_repeat(draft: Draft) -> Reason | None:
    """The same text posted under other articles is how spam campaigns look: hold it."""
    if author_history(draft).repeated_elsewhere:
        return {"kind": "rule", "code": "repeat_post", "effect": moderation.HOLD}
    return None


def author_status(draft: Draft) -> Reason | None:
    """What moderators decided about the author: on premod (or an anonymous banned author) is held."""
    return readers.hold_reason(draft.author)


def author_record(draft: Draft) -> Reason | None:
    rejected = author_history(draft).rejected_recently
    if rejected >= REJECTIONS_BEFORE_HOLD:
        return {"kind": "rule", "code": "author_history", "effect": moderation.HOLD, "rejected_recently": rejected}
    return None


RULES: list[Rule] = [
    thread_open,
    not_a_duplicate,
    banned_words,
    suspect_words,
    premoderation,
    not_a_repeat,
    author_status,
    author_record,
]


def apply_rules(draft: Draft, rules: list[Rule] | None = None) -> list[Reason]:
    reasons = []
    for rule in rules or RULES:
        reason = rule(draft)
        if reason is not None:
            reasons.append(reason)
    return reasons


# --- the pipeline -----------------------------------------------------------------------------


def checked(check: Callable[[str], str], field_name: str, value: str) -> str:
    try:
        return check(value)
    except TextError as exc:
        raise invalid_field(field_name, exc.code, exc.message) from None


def get_or_create_thread(site: Site, key: str, title: str | None = None, url: str | None = None) -> Thread:
    checked(check_thread_key, "key", key)
    thread = find_thread(site, key)
    if thread is not None:
        return thread
    try:
        # A savepoint, so a concurrent first comment on the same article loses nothing but the race.
        with db.session.begin_nested():
            thread = Thread(site_id=site.id, key=key, title=(title or "")[:500], url=(url or "")[:2000])
            db.session.add(thread)
    except IntegrityError:
        thread = find_thread(site, key)  # the other first comment's
        if thread is None:
            raise
    return thread


def find_parent(thread: Thread, parent_id: int | None) -> Comment | None:
    if parent_id is None:
        return None
    parent = db.session.get(Comment, parent_id)
    if parent is None or parent.thread_id != thread.id:
        raise invalid_field("parent_id", "invalid_parent", "parent_id is not a comment in this thread.")
    if parent.status != Status.PUBLISHED:
        raise invalid_field("parent_id", "invalid_parent", "Replies are possible only to published comments.")
    return parent


def place_reply(parent: Comment | None, max_depth: int) -> tuple[int | None, int | None, int, int | None]:
    """(parent_id, root_id, depth, reply_to_id) for a reply under ``parent``, capped at max_depth.

    Depth 0 is a root; past ``max_depth`` levels a reply attaches to the deepest allowed
    ancestor and ``reply_to_id`` remembers whom it answers.
    """
    if parent is None:
        return None, None, 0, None
    root_id = parent.root_id or parent.id
    attach_to = parent
    while attach_to.depth + 1 > max_depth - 1 and attach_to.parent is not None:
        attach_to = attach_to.parent
    reply_to_id = parent.id if attach_to is not parent else None
    return attach_to.id, root_id, attach_to.depth + 1, reply_to_id


def submit(site: Site, thread_key: str, new: NewComment, scoring: Scoring | None = None) -> SubmissionResult:
    """Store a new comment with its status decided (or ``pending`` when scoring is on)."""
    body = checked(check_body, "body", new.body)
    settings = effective_settings(site)
    reader = new.reader
    ip_hash = hash_ip(new.client_ip) if new.client_ip else None
    keys: readers.ReaderKeys | None = None
    if reader is not None:
        # The token's name (checked when the token was), never the body's.
        author_name = reader.username
        keys = readers.reader_keys(site, reader)  # the comment's keys and the author record's, derived once
        email_hash, author_key = keys.email_hash, keys.author_key
    else:
        sso.require_sign_in(site, reader, "comment")
        if new.author_name is None:
            raise invalid_field("author_name", "required", "Missing data for required field.")
        author_name = checked(check_author_name, "author_name", new.author_name)
        email_hash = hash_email(new.author_email) if new.author_email else None
        author_key = email_hash or ip_hash or "anonymous"

    thread = get_or_create_thread(site, thread_key, new.thread_title, new.thread_url)
    parent = find_parent(thread, new.parent_id)
    now = utcnow()
    if reader is not None:
        author = readers.for_reader(site, reader, now, keys)
        readers.check_may_post(author)
    else:
        author = readers.for_anonymous(site, author_key, author_name, email_hash, now)
    body_html = rendering.render(body)
    draft = Draft(
        site=site,
        settings=settings,
        thread=thread,
        parent=parent,
        body=body,
        body_html=body_html,
        author_name=author_name,
        author_key=author_key,
        author=author,
        fingerprint=rendering.fingerprint(body),
        now=now,
    )
    rule_reasons = apply_rules(draft)

    parent_id, root_id, depth, reply_to_id = place_reply(parent, settings["max_depth"])
    nonce = new_nonce()
    comment = Comment(
        site_id=site.id,
        thread_id=thread.id,
        parent_id=parent_id,
        root_id=root_id,
        depth=depth,
        reply_to_id=reply_to_id,
        author_name=author_name,
        author_email_hash=email_hash,
        author_key=author_key,
        author_id=author.id,
        author_badges=list(reader.badges) if reader is not None else [],
        author_verified=reader is not None,
        ip_hash=ip_hash,
        body=body,
        body_html=body_html,
        body_fingerprint=draft.fingerprint,
        edit_nonce=nonce,
        created_at=draft.now,
    )
    decided, reasons = _status_for(rule_reasons, settings, scoring)
    moderation.store_new(comment, decided, Actor("author", author_key[:16]), "submitted", reasons)
    comment_id, status = comment.id, comment.status
    if status == Status.REJECTED:  # the rules rejected it: the author's recent history may say premod
        recent_history.after_decision(comment)
    # Counted, and handed to the scorer, only once the request's unit of work has committed the
    # comment: a post rolled back is neither, and the scorer never looks for a row not yet there.
    transaction.after_commit(lambda: metrics.SUBMITTED.labels(status).inc())
    if scoring is not None and scoring.enabled and status == Status.PENDING:
        _enqueue_after_commit(scoring, comment_id)
    return SubmissionResult(
        comment=comment,
        edit_token_nonce=nonce,
        comment_id=comment_id,
        status=status,
        editable_until=editable_until(settings, draft.now),
    )


def editable_until(settings: dict[str, Any], created_at: datetime) -> datetime:
    """When the author's edit window closes: clients hide their edit and delete buttons then."""
    return created_at + timedelta(seconds=settings["edit_window_seconds"])


def _status_for(
    rule_reasons: list[Reason], settings: dict[str, Any], scoring: Scoring | None
) -> tuple[Status, list[Reason]]:
    """Decide now, or leave the comment pending for the classifier when a rule does not already
    reject it (a rejected comment needs no scores)."""
    status, reasons = moderation.outcome(rule_reasons, settings, classifier=None)
    if scoring is not None and scoring.enabled and status != Status.REJECTED:
        status = Status.PENDING
    return status, reasons


def _settle(
    comment: Comment,
    rule_reasons: list[Reason],
    settings: dict[str, Any],
    scoring: Scoring | None,
    actor: Actor,
    action: str,
) -> None:
    status, reasons = _status_for(rule_reasons, settings, scoring)
    moderation.change_status(comment, status, actor, action, reasons)
    if status == Status.REJECTED:  # an edit the rules reject counts as a decision too
        recent_history.after_decision(comment)


def resubmit(comment: Comment, new_body: str, scoring: Scoring | None = None) -> None:
    """An author's edit: the new text goes through the same rules and decision again."""
    body = checked(check_body, "body", new_body)
    site = comment.site
    settings = effective_settings(site)
    body_html = rendering.render(body)
    draft = Draft(
        site=site,
        settings=settings,
        thread=comment.thread,
        parent=comment.parent,
        body=body,
        body_html=body_html,
        author_name=comment.author_name,
        author_key=comment.author_key,
        author=readers.author_of(comment),
        fingerprint=rendering.fingerprint(body),
        now=utcnow(),
        editing=comment,
    )
    rule_reasons = apply_rules(draft)
    db.session.add(
        CommentRevision(
            comment_id=comment.id,
            body=comment.body,
            body_html=comment.body_html,
            written_at=comment.edited_at or comment.created_at,
        )
    )
    comment.body = body
    comment.body_html = body_html
    comment.body_fingerprint = draft.fingerprint
    comment.edited_at = draft.now
    comment.scores = None
    comment.scored_at = None
    comment.model_name = None
    comment.max_score = None
    comment.needs_scoring = False
    # A moderator's decision was about the old text: the new one is decided afresh (scored,
    # and held if it must be), or an approved comment could be edited into anything.
    comment.decided_at = None
    _settle(comment, rule_reasons, settings, scoring, Actor("author", comment.author_key[:16]), "edited")
    # Flushed here, not at the owner's commit: a comment changed meanwhile (StaleDataError) is
    # found while the caller can still read it again and retry.
    db.session.flush()
    if scoring is not None and scoring.enabled and comment.status == Status.PENDING:
        _enqueue_after_commit(scoring, comment.id)


def _enqueue_after_commit(scoring: Scoring, comment_id: int) -> None:
    """Hand the comment to the scorer once it is committed (a rollback hands over nothing)."""
    transaction.after_commit(lambda: scoring.enqueue([comment_id]))
