"""Reader reports: enough distinct readers move a published comment into the review queue."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from comments.extensions import db
from comments.models import Comment, Report, Status, WebhookEvent, utcnow
from comments.security import hash_ip
from comments.services import audit, readers, sso
from comments.services.errors import NotFound, invalid_field
from comments.services.sites import effective_settings
from comments.services.validation import TextError, check_text
from comments.services.webhooks import outbox


def report(comment: Comment, reason: str, note: str, client_ip: str, reader: sso.Reader | None = None) -> None:
    """Record one reader's report; the same reader reporting again changes nothing.

    A signed-in reader is counted as the person (their author key), wherever they report from; an
    anonymous one by address. On a site whose identity is ``sso`` only signed-in readers report.
    A signed-in reader moderators banned or suspended is refused as their posts are (403
    ``author_banned`` / ``author_suspended``): reports put comments before moderators, and one
    kept from the conversation must not steer it; anonymous reporters are not asked who they are."""
    sso.require_sign_in(comment.site, reader, "report comments")
    reporter_record = readers.known_reader(comment.site, reader) if reader is not None else None
    if reporter_record is not None:
        readers.check_may_post(reporter_record)
    if comment.status != Status.PUBLISHED:
        raise NotFound("comment_not_found", "No such comment.")
    if note:
        try:
            check_text(note, minimum=0, maximum=1000, multiline=True, what="note")
        except TextError as exc:
            raise invalid_field("note", exc.code, exc.message) from None
    if reporter_record is not None:
        reporter = reporter_record.author_key  # the key known_reader found them by, not derived again
    elif reader is not None:
        reporter = readers.sso_author_key(comment.site, reader.user_id)
    else:
        reporter = hash_ip(client_ip)
    try:
        with db.session.begin_nested():
            db.session.add(Report(comment_id=comment.id, reason=reason, note=note, reporter_hash=reporter))
    except IntegrityError:
        return  # this reader reported it already
    distinct = db.session.execute(
        select(func.count()).select_from(Report).where(Report.comment_id == comment.id)
    ).scalar_one()
    comment.report_count = distinct
    actor = audit.Actor("reader", reporter[:16])
    reasons = [{"kind": "report", "code": "reader_report", "reason": reason, "note": note}]
    audit.record("reported", actor, comment=comment, reasons=reasons)
    threshold = effective_settings(comment.site)["report_threshold"]
    if distinct >= threshold and comment.reported_at is None:
        # The comment stays published: readers keep seeing it until a moderator decides.
        comment.reported_at = utcnow()
        audit.record(
            "queued_for_review",
            audit.SYSTEM,
            comment=comment,
            reasons=[{"kind": "rule", "code": "report_threshold", "reports": distinct, "threshold": threshold}],
        )
    outbox.emit(
        comment.site_id,
        WebhookEvent.REPORTED.value,
        lambda: outbox.comment_data(
            comment, report={"reason": reason, "note": note}, queued_for_review=comment.reported_at is not None
        ),
        comment_id=comment.id,
    )
    # Flushed here: a comment changed meanwhile (StaleDataError) is found while the caller can retry.
    db.session.flush()
