"""Privacy requests and retention: an author's comments exported or erased by email, and IP
hashes dropped after ``IP_RETENTION_DAYS``.

Emails are never stored, only their keyed hash (``security.hash_email``), so a request finds an
author's comments by hashing the address it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, case, cast, delete, exists, literal, select, update
from sqlalchemy.orm import aliased

from comments.extensions import db
from comments.models import Comment, CommentRevision, LoginFailure, Report, Site, Status, WebhookDelivery, utcnow
from comments.security import hash_email
from comments.services import hostapi, moderation
from comments.services.audit import Actor, record
from comments.services.statements import rows_changed
from comments.services.webhooks import outbox

ERASED_AUTHOR_KEY = "erased"
PURGED_AUTHOR_KEY = "ip-purged"


def export_author(site: Site, email: str, *, limit: int, cursor: str | None, actor: Actor) -> hostapi.Page:
    """The author's comments on this site, whatever their status, as the export shows them."""
    email_hash = hash_email(email)
    page = hostapi.export_page(site, hostapi.ExportFilter(author_email_hash=email_hash), limit=limit, cursor=cursor)
    if cursor is None:
        record(
            "privacy_export",
            actor,
            site_id=site.id,
            reasons=[{"kind": "privacy", "author": email_hash[:16], "first_page": len(page.items)}],
        )
    return page


@dataclass
class Erasure:
    erased: int = 0
    removed: int = 0
    tombstoned: int = 0


def erase_author(site: Site, email: str, actor: Actor) -> Erasure:
    """Remove the author's identity and words from every comment of theirs on this site.

    A comment with replies stays as a tombstone (no author, no text) so the replies keep their
    place; the others are deleted outright. Edit history goes too. One audited transaction.
    """
    email_hash = hash_email(email)
    comments = list(
        db.session.execute(
            select(Comment)
            .where(Comment.site_id == site.id, Comment.author_email_hash == email_hash)
            .order_by(Comment.depth.desc(), Comment.id)
        ).scalars()
    )
    result = Erasure(erased=len(comments))
    if not comments:
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
    record(
        "privacy_erased",
        actor,
        site_id=site.id,
        reasons=[
            {
                "kind": "privacy",
                "author": email_hash[:16],
                "comment_ids": ids,
                "removed": result.removed,
                "tombstoned": result.tombstoned,
                "webhook_deliveries_dropped": forgotten,
            }
        ],
    )
    return result


@dataclass
class Purge:
    comments: int = 0
    reports: int = 0
    login_failures: int = 0
    deliveries: int = 0

    def add(self, other: Purge) -> None:
        self.comments += other.comments
        self.reports += other.reports
        self.login_failures += other.login_failures
        self.deliveries += other.deliveries

    @property
    def total(self) -> int:
        return self.comments + self.reports + self.login_failures + self.deliveries


@dataclass(frozen=True)
class Retention:
    """What a purge drops: IP hashes from before ``ip_cutoff``, finished webhook deliveries from
    before ``deliveries_cutoff`` (None: keep them)."""

    older_than_days: int
    ip_cutoff: datetime
    deliveries_cutoff: datetime | None

    @classmethod
    def days(cls, older_than_days: int, deliveries_older_than_days: int | None = None) -> Retention:
        if older_than_days < 0 or (deliveries_older_than_days or 0) < 0:
            raise ValueError("the retention period cannot be negative")
        now = utcnow()
        return cls(
            older_than_days,
            now - timedelta(days=older_than_days),
            None if deliveries_older_than_days is None else now - timedelta(days=deliveries_older_than_days),
        )


# Rows per kind per batch: a batch's transaction holds SQLite's write lock for milliseconds, so
# posts are not kept waiting by a first purge of a large database.
PURGE_BATCH_SIZE = 200


def purge_batch(retention: Retention, limit: int = PURGE_BATCH_SIZE) -> Purge:
    """Drop up to ``limit`` of each kind of expired data, oldest first; the caller commits and
    calls again until a batch changes nothing (``total`` 0).

    IP hashes go from comments (and the author key of authors known only by IP) and from
    reports (where the hash only kept one report per reader); wrong-password counts per
    moderator and address go (a lock lasts minutes, the hash no longer); finished webhook
    deliveries go (the log holds comment texts).
    """
    cutoff = retention.ip_cutoff
    # The partial index on created_at holds only comments that still have an IP hash: each batch
    # reads what it changes, however many comments were purged before.
    expired = (
        select(Comment.id)
        .where(Comment.created_at < cutoff, Comment.ip_hash.is_not(None))
        .order_by(Comment.created_at)
        .limit(limit)
    )
    comments = rows_changed(
        update(Comment)
        .where(Comment.id.in_(expired.scalar_subquery()))
        # SET reads the row as it was: the author key goes where it was the IP hash.
        # updated_at kept: nothing a host sees changes.
        .values(
            author_key=case((Comment.author_key == Comment.ip_hash, PURGED_AUTHOR_KEY), else_=Comment.author_key),
            ip_hash=None,
            updated_at=Comment.updated_at,
        )
        .execution_options(synchronize_session=False)
    )
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
    return Purge(comments=comments, reports=reports, login_failures=login_failures, deliveries=deliveries)


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
            }
        ],
    )
