"""Privacy requests and retention: an author's comments exported or erased (by email, or by the
host's SSO user id), and IP hashes and expired sign-outs dropped after their time.

Emails are never stored, only their keyed hash (``security.hash_email``), so a request by email
finds an author's comments by hashing the address it is given. A request by SSO user id finds the
author record by its keyed key (``readers.sso_author_key``), then their comments by ``author_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, case, cast, delete, exists, literal, or_, select, update
from sqlalchemy.orm import aliased

from comments.extensions import db
from comments.models import (
    ERASED_AUTHOR_KEY,
    PURGED_AUTHOR_KEY,
    Author,
    AuthorName,
    AuthorStatus,
    Comment,
    CommentRevision,
    LoginFailure,
    Report,
    Site,
    Status,
    WebhookDelivery,
    utcnow,
)
from comments.security import hash_email
from comments.services import analysis, hostapi, moderation, readers, sso
from comments.services.audit import Actor, record
from comments.services.statements import rows_changed
from comments.services.webhooks import outbox


@dataclass(frozen=True)
class Subject:
    """Whom a privacy request is about, as far as this site knows them."""

    label: str  # a short hash for the audit log (never the address or the host's user id)
    email_hash: str | None  # by email: their comments carry it
    authors: tuple[Author, ...]  # their author records (by email: each record with that email's hash)

    @property
    def author_ids(self) -> tuple[int, ...]:
        return tuple(a.id for a in self.authors)

    @property
    def unknown(self) -> bool:
        """No comment can be theirs: asked by SSO user id, and the reader has no record here."""
        return self.email_hash is None and not self.authors

    def export_filter(self) -> hostapi.ExportFilter:
        if self.email_hash is None:
            return hostapi.ExportFilter(author_ids=self.author_ids)
        # Anonymous authors' comments all carry the email's hash (it is their key); a signed-in
        # reader's may not (a token without the email): those are found by the record too.
        signed_in = tuple(a.id for a in self.authors if a.verified)
        return hostapi.ExportFilter(author_email_hash=self.email_hash, author_ids=signed_in)

    def comments(self, site: Site) -> list[Comment]:
        who = []
        if self.email_hash is not None:
            who.append(Comment.author_email_hash == self.email_hash)
        if self.authors:
            who.append(Comment.author_id.in_(self.author_ids))
        if not who:  # unknown
            return []
        return list(
            db.session.execute(
                select(Comment).where(Comment.site_id == site.id, or_(*who)).order_by(Comment.depth.desc(), Comment.id)
            ).scalars()
        )


def subject(site: Site, *, email: str | None = None, sso_user_id: str | None = None) -> Subject:
    """The subject of a request by email or by the host's SSO user id (exactly one of them)."""
    if (email is None) == (sso_user_id is None):
        raise ValueError("a privacy request names its subject by email or by SSO user id, not both")
    if email is not None:
        email_hash = hash_email(email)
        authors = db.session.execute(
            select(Author).where(Author.site_id == site.id, Author.email_hash == email_hash).order_by(Author.id)
        ).scalars()
        return Subject(email_hash[:16], email_hash, tuple(authors))
    assert sso_user_id is not None
    key = readers.sso_author_key(site, sso_user_id)
    author = db.session.execute(
        select(Author).where(Author.site_id == site.id, Author.author_key == key)
    ).scalar_one_or_none()
    return Subject(key[:16], None, (author,) if author is not None else ())


def export_author(
    site: Site,
    *,
    email: str | None = None,
    sso_user_id: str | None = None,
    limit: int,
    cursor: str | None,
    actor: Actor,
) -> hostapi.Page:
    """The author's comments on this site, whatever their status, as the export shows them."""
    who = subject(site, email=email, sso_user_id=sso_user_id)
    if who.unknown:
        page = hostapi.Page([], None)
    else:
        page = hostapi.export_page(site, who.export_filter(), limit=limit, cursor=cursor)
    if cursor is None:
        record(
            "privacy_export",
            actor,
            site_id=site.id,
            reasons=[
                {
                    "kind": "privacy",
                    "author": who.label,
                    "by": "email" if email is not None else "sso_user_id",
                    "first_page": len(page.items),
                }
            ],
        )
    return page


@dataclass
class Erasure:
    erased: int = 0
    removed: int = 0
    tombstoned: int = 0
    authors: int = 0  # author records removed (with their name history)


def erase_author(site: Site, actor: Actor, *, email: str | None = None, sso_user_id: str | None = None) -> Erasure:
    """Remove the author's identity and words from every comment of theirs on this site, and
    their author records (names, badges, the host's user id, the email's hash, url, role).

    A comment with replies stays as a tombstone (no author, no text) so the replies keep their
    place; the others are deleted outright. Edit history goes too. The author record goes
    whole: nothing is left to link a later comment to the erased one (a later post by the same
    reader makes a fresh record), and so a status a moderator gave them goes with it. One
    audited transaction.
    """
    who = subject(site, email=email, sso_user_id=sso_user_id)
    comments = who.comments(site)
    result = Erasure(erased=len(comments), authors=len(who.authors))
    if not comments and not who.authors:
        return result
    ids = [c.id for c in comments]
    for comment in comments:
        if comment.status != Status.DELETED:
            moderation.change_status(
                comment, Status.DELETED, actor, "erased", reasons=[{"kind": "privacy", "code": "erased_on_request"}]
            )
        comment.body = ""
        comment.body_html = ""
        comment.body_fingerprint = ""
        comment.author_name = ""
        comment.author_email_hash = None
        comment.ip_hash = None
        comment.author_key = ERASED_AUTHOR_KEY
        comment.author_id = None
        comment.author_badges = []
        comment.author_verified = False
        comment.scores = None
        comment.reasons = [{"kind": "privacy", "code": "erased_on_request"}]
        comment.reason_codes = "erased_on_request"
    db.session.execute(delete(CommentRevision).where(CommentRevision.comment_id.in_(ids)))
    # Webhook deliveries carry the comment's text and author: queued ones must not go out, logged
    # ones must not stay.
    forgotten = outbox.forget_comments(ids)
    db.session.flush()
    # Deepest first, so an erased reply under an erased comment lets that one go too.
    child = aliased(Comment)
    for comment in comments:
        has_replies = db.session.execute(select(exists().where(child.parent_id == comment.id))).scalar()
        if has_replies:
            result.tombstoned += 1
            continue
        moderation.bump_thread_revision(comment.thread_id)
        db.session.delete(comment)
        db.session.flush()
        result.removed += 1
    _remove_authors(who.author_ids)
    record(
        "privacy_erased",
        actor,
        site_id=site.id,
        reasons=[
            {
                "kind": "privacy",
                "author": who.label,
                "by": "email" if email is not None else "sso_user_id",
                "comment_ids": ids,
                "removed": result.removed,
                "tombstoned": result.tombstoned,
                "authors_removed": result.authors,
                "webhook_deliveries_dropped": forgotten,
            }
        ],
    )
    return result


def _remove_authors(author_ids: tuple[int, ...]) -> None:
    """The author records and their name history. ``Comment.author_id`` has no foreign key: any
    comment still pointing at them (posted while the erasure ran) is unlinked here."""
    if not author_ids:
        return
    db.session.execute(
        update(Comment)
        .where(Comment.author_id.in_(author_ids))
        .values(author_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(AuthorName).where(AuthorName.author_id.in_(author_ids)).execution_options(synchronize_session=False)
    )
    for author_id in author_ids:
        author = db.session.get(Author, author_id)
        if author is not None:
            db.session.delete(author)
    db.session.flush()


@dataclass
class Purge:
    comments: int = 0
    reports: int = 0
    login_failures: int = 0
    deliveries: int = 0
    revoked_tokens: int = 0  # signed-out SSO tokens past their expiry (``sso.purge_revoked``)
    authors: int = 0  # author records known only by an expired address hash, unkeyed
    feedback: int = 0  # suggested scores (comments:suggestscore) past their retention

    def add(self, other: Purge) -> None:
        self.comments += other.comments
        self.reports += other.reports
        self.login_failures += other.login_failures
        self.deliveries += other.deliveries
        self.revoked_tokens += other.revoked_tokens
        self.authors += other.authors
        self.feedback += other.feedback

    @property
    def total(self) -> int:
        return (
            self.comments
            + self.reports
            + self.login_failures
            + self.deliveries
            + self.revoked_tokens
            + self.authors
            + self.feedback
        )


@dataclass(frozen=True)
class Retention:
    """What a purge drops: IP hashes from before ``ip_cutoff``, finished webhook deliveries from
    before ``deliveries_cutoff`` and suggested scores from before ``feedback_cutoff`` (None: keep
    them)."""

    older_than_days: int
    ip_cutoff: datetime
    deliveries_cutoff: datetime | None
    feedback_cutoff: datetime | None = None
    feedback_older_than_days: int | None = None

    @classmethod
    def days(
        cls,
        older_than_days: int,
        deliveries_older_than_days: int | None = None,
        feedback_older_than_days: int | None = None,
    ) -> Retention:
        if min(older_than_days, deliveries_older_than_days or 0, feedback_older_than_days or 0) < 0:
            raise ValueError("the retention period cannot be negative")
        now = utcnow()

        def cutoff(days: int | None) -> datetime | None:
            return None if days is None else now - timedelta(days=days)

        return cls(
            older_than_days,
            now - timedelta(days=older_than_days),
            cutoff(deliveries_older_than_days),
            cutoff(feedback_older_than_days),
            feedback_older_than_days,
        )


# Rows per kind per batch: a batch's transaction holds SQLite's write lock for milliseconds, so
# posts are not kept waiting by a first purge of a large database.
PURGE_BATCH_SIZE = 200


def purge_batch(retention: Retention, limit: int = PURGE_BATCH_SIZE) -> Purge:
    """Drop up to ``limit`` of each kind of expired data, oldest first; the caller commits and
    calls again until a batch changes nothing (``total`` 0).

    IP hashes go from comments (and the author key of authors known only by IP: the comment's,
    and the author record's, ``_unkey_authors``) and from reports (where the hash only kept one
    report per reader); wrong-password counts per moderator and address go (a lock lasts minutes, the hash no longer); finished webhook
    deliveries go (the log holds comment texts); signed-out SSO tokens that have expired anyway
    go (all at once: a revoked token is one small row, refused only until it expires); suggested
    scores (``analysis_feedback``, texts a Perspective client sent) go after their retention.
    """
    cutoff = retention.ip_cutoff
    # The partial index on created_at holds only comments that still have an IP hash: each batch
    # reads what it changes, however many comments were purged before.
    expired = db.session.execute(
        select(Comment.id, Comment.author_id)
        .where(Comment.created_at < cutoff, Comment.ip_hash.is_not(None))
        .order_by(Comment.created_at)
        .limit(limit)
    ).all()
    comments = authors = 0
    if expired:
        comments = rows_changed(
            update(Comment)
            .where(Comment.id.in_([row.id for row in expired]), Comment.ip_hash.is_not(None))
            # SET reads the row as it was: the author key goes where it was the IP hash.
            # updated_at kept: nothing a host sees changes.
            .values(
                author_key=case((Comment.author_key == Comment.ip_hash, PURGED_AUTHOR_KEY), else_=Comment.author_key),
                ip_hash=None,
                updated_at=Comment.updated_at,
            )
            .execution_options(synchronize_session=False)
        )
        authors = _unkey_authors({row.author_id for row in expired if row.author_id is not None}, cutoff)
    expired_reports = (
        select(Report.id).where(Report.created_at < cutoff, ~Report.reporter_hash.startswith("purged:")).limit(limit)
    )
    reports = rows_changed(
        update(Report)
        .where(Report.id.in_(expired_reports.scalar_subquery()))
        .values(reporter_hash=literal("purged:") + cast(Report.id, String))
        .execution_options(synchronize_session=False)
    )
    expired_failures = select(LoginFailure.id).where(LoginFailure.last_failure_at < cutoff).limit(limit)
    login_failures = rows_changed(
        delete(LoginFailure)
        .where(LoginFailure.id.in_(expired_failures.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    deliveries = 0
    if retention.deliveries_cutoff is not None:
        expired_deliveries = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.created_at < retention.deliveries_cutoff,
                WebhookDelivery.status.in_((outbox.DELIVERED, outbox.FAILED)),
            )
            .limit(limit)
        )
        deliveries = rows_changed(
            delete(WebhookDelivery)
            .where(WebhookDelivery.id.in_(expired_deliveries.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
    feedback = 0
    if retention.feedback_cutoff is not None:
        feedback = analysis.purge_feedback(retention.feedback_cutoff, limit)
    return Purge(
        comments=comments,
        reports=reports,
        login_failures=login_failures,
        deliveries=deliveries,
        revoked_tokens=sso.purge_revoked(),
        authors=authors,
        feedback=feedback,
    )


def _unkey_authors(author_ids: set[int], cutoff: datetime) -> int:
    """The author records of these comments that are known only by their address (no email, not
    signed in: the key is the IP hash) and have not posted since ``cutoff`` lose that key; a later
    comment from the address starts a new record. Found through the comments being purged (an
    author's last comment expires after their last visit), so no batch reads every author. A
    status a moderator gave them keeps the key: a ban by address lasts, as the bans table did."""
    if not author_ids:
        return 0
    return rows_changed(
        update(Author)
        .where(
            Author.id.in_(sorted(author_ids)),
            Author.last_seen_at < cutoff,
            Author.email_hash.is_(None),
            Author.verified.is_(False),
            Author.status == AuthorStatus.ACTIVE.value,
        )
        .values(author_key=literal(PURGED_AUTHOR_KEY + ":") + cast(Author.id, String))
        .execution_options(synchronize_session=False)
    )


def record_purge(retention: Retention, purged: Purge, actor: Actor = Actor("operator", "purge")) -> None:
    """The audit row for a whole purge (all its batches)."""
    record(
        "ip_hashes_purged",
        actor,
        reasons=[
            {
                "kind": "privacy",
                "older_than_days": retention.older_than_days,
                "comments": purged.comments,
                "reports": purged.reports,
                "login_failures": purged.login_failures,
                "webhook_deliveries": purged.deliveries,
                "revoked_sso_tokens": purged.revoked_tokens,
                "authors": purged.authors,
                "analysis_feedback": purged.feedback,
                "analysis_feedback_older_than_days": retention.feedback_older_than_days,
            }
        ],
    )
