"""Privacy requests and retention: an author's comments exported or erased by email, and IP
hashes dropped after ``IP_RETENTION_DAYS``.

Emails are never stored, only their keyed hash (``security.hash_email``), so a request finds an
author's comments by hashing the address it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import String, cast, delete, exists, literal, select, update
from sqlalchemy.orm import aliased

from comments.extensions import db
from comments.models import Comment, CommentRevision, LoginFailure, Report, Site, Status, WebhookDelivery, utcnow
from comments.security import hash_email
from comments.services import hostapi, moderation, webhooks
from comments.services.audit import Actor, record

ERASED_AUTHOR_KEY = "erased"
PURGED_AUTHOR_KEY = "ip-purged"


def export_author(site: Site, email: str, *, limit: int, cursor: str | None, actor: Actor) -> hostapi.Page:
    """The author's comments on this site, whatever their status, as the export shows them."""
    email_hash = hash_email(email)
    page = hostapi.export_page(site, hostapi.ExportFilter(author_email_hash=email_hash), limit=limit, cursor=cursor)
    if cursor is None:
        record("privacy_export", actor, site_id=site.id,
               reasons=[{"kind": "privacy", "author": email_hash[:16], "first_page": len(page.items)}])
        db.session.commit()
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
    comments = list(db.session.execute(
        select(Comment).where(Comment.site_id == site.id, Comment.author_email_hash == email_hash)
        .order_by(Comment.depth.desc(), Comment.id)).scalars())
    result = Erasure(erased=len(comments))
    if not comments:
        return result
    ids = [c.id for c in comments]
    for comment in comments:
        if comment.status != Status.DELETED:
            moderation.change_status(comment, Status.DELETED, actor, "erased",
                                     reasons=[{"kind": "privacy", "code": "erased_on_request"}])
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
    forgotten = webhooks.forget_comments(ids)
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
    record("privacy_erased", actor, site_id=site.id,
           reasons=[{"kind": "privacy", "author": email_hash[:16], "comment_ids": ids,
                     "removed": result.removed, "tombstoned": result.tombstoned,
                     "webhook_deliveries_dropped": forgotten}])
    db.session.commit()
    return result


@dataclass
class Purge:
    comments: int = 0
    reports: int = 0
    deliveries: int = 0


def purge_ip_hashes(older_than_days: int, actor: Actor = Actor("operator", "purge"),
                    deliveries_older_than_days: int | None = None) -> Purge:
    """Drop IP hashes older than the retention period: on comments (and the author key of
    authors known only by IP), and on reports (where the hash only kept one report per reader)."""
    if older_than_days < 0:
        raise ValueError("the retention period cannot be negative")
    cutoff = utcnow() - timedelta(days=older_than_days)
    db.session.execute(
        update(Comment).where(Comment.created_at < cutoff, Comment.ip_hash.is_not(None),
                              Comment.author_key == Comment.ip_hash)
        # updated_at kept: nothing a host sees changes.
        .values(author_key=PURGED_AUTHOR_KEY, updated_at=Comment.updated_at)
        .execution_options(synchronize_session=False))
    comments = db.session.execute(
        update(Comment).where(Comment.created_at < cutoff, Comment.ip_hash.is_not(None))
        .values(ip_hash=None, updated_at=Comment.updated_at).execution_options(synchronize_session=False)).rowcount
    reports = db.session.execute(
        update(Report).where(Report.created_at < cutoff, ~Report.reporter_hash.startswith("purged:"))
        .values(reporter_hash=literal("purged:") + cast(Report.id, String))
        .execution_options(synchronize_session=False)).rowcount
    # Wrong-password counts per moderator and address: a lock lasts minutes, the hash no longer.
    login_failures = db.session.execute(
        delete(LoginFailure).where(LoginFailure.last_failure_at < cutoff)
        .execution_options(synchronize_session=False)).rowcount
    deliveries = 0
    if deliveries_older_than_days is not None:
        # The webhook delivery log holds comment texts: finished deliveries do not stay forever.
        deliveries = db.session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.status.in_(("delivered", "failed")),
                WebhookDelivery.created_at < utcnow() - timedelta(days=deliveries_older_than_days))
            .execution_options(synchronize_session=False)).rowcount
    record("ip_hashes_purged", actor, reasons=[{"kind": "privacy", "older_than_days": older_than_days,
                                                "comments": comments, "reports": reports,
                                                "login_failures": login_failures,
                                                "webhook_deliveries": deliveries}])
    db.session.commit()
    return Purge(comments=comments, reports=reports, deliveries=deliveries)
