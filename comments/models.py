"""Typed SQLAlchemy models: the data and its invariants. Workflows live in ``services/``."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Required, TypedDict, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ColumnClause,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

from comments.extensions import Base, db

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModelMixin

    # db.Model is made at run time from Base and Flask-SQLAlchemy's mixins; to mypy it is an attribute
    # of type type[...], which cannot be a base class. The models subclass this, which mypy sees as
    # what db.Model is: a declarative Base with Flask-SQLAlchemy's Model mixin.
    class Model(Base, _FlaskModelMixin):
        __abstract__ = True
        # Every model here is mapped to a Table (DeclarativeBase says only FromClause).
        __table__: ClassVar[Table]

else:
    Model = db.Model


# Primary keys are 32-bit INTEGER columns: a larger id from a client names nothing (and PostgreSQL
# would refuse to compare it), so every id that comes from outside is checked against this.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Reason(TypedDict, total=False):
    """One reason a comment is where it is (``Comment.reasons``): a rule that fired, a classifier
    label over its threshold, a reader's report, a person's or an import's doing. Stored as JSON
    and shown as is to moderators and hosts; ``kind`` says which of the other keys it carries.
    """

    kind: Required[str]  # rule, classifier, report, author, moderator, host, privacy, import
    code: str  # what fired: banned_word, label_over_threshold, reader_report, deleted_by_author ...
    effect: str  # hold, reject or note (moderation.HOLD, REJECT, NOTE): what it does to the status
    # classifier: the label, its score, the threshold it passed (or reached), the model
    label: str
    score: float
    threshold: float
    model: str | None
    detail: str  # classifier_unavailable: why the classifier did not answer
    words: list[str]  # banned_word, suspect_word: the words found
    rejected_recently: int  # author_history
    reports: int  # report_threshold: distinct readers
    reason: str  # a report's reason or a moderator's words
    note: str  # a report's note
    event_id: int  # undo: the audit event undone
    source: str  # import: the format imported from
    ref: str  # import: the comment's id there


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Status(enum.StrEnum):
    """A comment's status, as the contract names them."""

    PENDING = "pending"  # stored, not yet scored
    PUBLISHED = "published"
    HELD = "held"  # waiting in the review queue
    REJECTED = "rejected"
    DELETED = "deleted"


STATUS_VALUES = tuple(s.value for s in Status)


class Queue(enum.StrEnum):
    """The review queues, as the contract names them. Two share a status's word, not its meaning:
    "approved" and "reported" hold published comments (``QUEUES_WHERE`` says which)."""

    HELD = "held"
    REPORTED = "reported"
    REJECTED = "rejected"
    APPROVED = "approved"
    # Machine-published comments drawn for a moderator's check (``spot_checks``), not yet answered.
    SPOT_CHECK = "spot-check"


QUEUE_VALUES = tuple(q.value for q in Queue)

# What a reason (an entry of ``Comment.reasons`` or of an audit event's) is about, and what it does
# to the status; its ``code`` says which rule, its words are ``services.moderation.REASON_TEXT``.
ReasonKind = Literal["rule", "classifier", "report", "privacy", "author", "import", "moderator", "host"]
ReasonEffect = Literal["hold", "reject", "note"]

# Why a reader reports a comment: the API's choices, the widget's menu and the table's check.
ReportReason = Literal["spam", "abuse", "offensive", "other"]
REPORT_REASONS: tuple[ReportReason, ...] = get_args(ReportReason)


class DeliveryStatus(enum.StrEnum):
    """Where a webhook delivery stands."""

    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # given up after the last attempt


DELIVERY_STATUS_VALUES = tuple(s.value for s in DeliveryStatus)


def _sql_in(column: str, values: tuple[str, ...]) -> str:
    """``column in ('a', 'b')``, for check constraints (the migrations spell the same text)."""
    return f"{column} in ({', '.join(repr(v) for v in values)})"


class Site(Model):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Only the keys a site changed; ``services.sites.effective_settings`` merges the defaults.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="site", cascade="all, delete-orphan")

    __table_args__ = (CheckConstraint("length(slug) between 1 and 64", name="slug_length"),)


class ApiKey(Model):
    """A host site's API key. Only a hash is stored; the prefix lets operators tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    # Space-separated: "host" (the host-site API), "moderate" (the moderation API, this site only),
    # "analyze" (the Perspective-compatible analysis, comments.perspective).
    scopes: Mapped[str] = mapped_column(String(100), default="host")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship(back_populates="api_keys")

    @property
    def scope_list(self) -> list[str]:
        return sorted(set(self.scopes.split()))

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes.split()


class Thread(Model):
    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    url: Mapped[str] = mapped_column(String(2000), default="")
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Published comments, kept by the services so that counts for many threads are one indexed read.
    published_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every change readers can see; thread reads use it as their ETag.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()

    __table_args__ = (UniqueConstraint("site_id", "key"),)


# How the review queue sorts by score: unscored comments last. A literal, not a bound parameter,
# so that queries match the expression indexes built on it.
SCORE_KEY: ColumnClause[Any] = literal_column("coalesce(max_score, -1.0)")
# When a comment was decided (recent history's order): a person's decision, else the classifier's,
# else the rules' at posting. A literal for the same reason as SCORE_KEY: ix_comments_author_decided.
DECIDED_AT_KEY: ColumnClause[Any] = literal_column("coalesce(decided_at, scored_at, created_at)")
# Which comments each review queue holds, as SQL with literal values: the partial indexes below
# are defined by these, and ``review._queue_condition`` uses the same text so that SQLite and
# PostgreSQL can match a query to them (a bound parameter would not prove the index applies).
QUEUES_WHERE: dict[str, TextClause] = {
    Queue.HELD: text(f"status = '{Status.HELD}'"),
    Queue.REJECTED: text(f"status = '{Status.REJECTED}'"),
    Queue.REPORTED: text(f"status = '{Status.PUBLISHED}' AND reported_at IS NOT NULL"),
    Queue.APPROVED: text(f"status = '{Status.PUBLISHED}' AND decided_at IS NOT NULL"),
    # (Listed and counted from ``spot_checks`` by ``services.review.spot_checks``; this is the
    # same condition on comments alone.)
    Queue.SPOT_CHECK: text(
        f"status = '{Status.PUBLISHED}' AND EXISTS (SELECT 1 FROM spot_checks "
        "WHERE spot_checks.comment_id = comments.id AND spot_checks.verdict IS NULL)"
    ),
}


class Comment(Model):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    # The comment this one is shown under. Past the depth cap it is the deepest allowed ancestor,
    # and ``reply_to_id`` names the comment really answered.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    root_id: Mapped[int | None] = mapped_column(Integer)  # null for a root; set for every reply
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    depth: Mapped[int] = mapped_column(Integer, default=0)

    author_name: Mapped[str] = mapped_column(String(64))
    author_email_hash: Mapped[str | None] = mapped_column(String(64))
    # Who the author is for history rules: the email hash when given, else the IP hash; for a
    # signed-in reader, a keyed hash of the host's user id (``Author.author_key``).
    author_key: Mapped[str] = mapped_column(String(64))
    # The author as a person (null only for comments whose author record was erased). No foreign
    # key: SQLite cannot add one to a table this size without copying it; erasure clears it.
    author_id: Mapped[int | None] = mapped_column(Integer)
    # From the host's token when posted signed in: shown beside the name as it was then.
    author_badges: Mapped[list[str]] = mapped_column(JSON, default=list)
    author_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    ip_hash: Mapped[str | None] = mapped_column(String(64))

    body: Mapped[str] = mapped_column(Text)  # raw Markdown, as written
    body_html: Mapped[str] = mapped_column(Text)  # produced by services.rendering only
    body_fingerprint: Mapped[str] = mapped_column(String(64))  # for repeat-post detection

    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING.value)
    # Every reason the comment is where it is: rules that fired, classifier labels, reports.
    reasons: Mapped[list[Reason]] = mapped_column(JSON, default=list)
    # The reasons' codes and labels, space-separated, so the queue can filter by reason in SQL.
    reason_codes: Mapped[str] = mapped_column(String(500), default="")
    scores: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # The highest label score, so the review queue can sort by it.
    max_score: Mapped[float | None] = mapped_column(Float)
    model_name: Mapped[str | None] = mapped_column(String(100))  # name and version of the model
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while the classifier could not score this text: the worker tries again later.
    needs_scoring: Mapped[bool] = mapped_column(Boolean, default=False)

    reply_count: Mapped[int] = mapped_column(Integer, default=0)  # published direct replies
    report_count: Mapped[int] = mapped_column(Integer, default=0)  # distinct readers
    # Set when enough readers reported a published comment: it waits in the "reported" queue.
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Random per comment; edit tokens carry it, so replacing it revokes every token.
    edit_nonce: Mapped[str] = mapped_column(String(32))
    # Optimistic concurrency for moderator decisions.
    version: Mapped[int] = mapped_column(Integer, default=1)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Any change to the row (status, text, counters): hosts export "what changed since".
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Where an imported comment came from ("disqus:123", "wxr:45"): importing twice adds nothing.
    import_ref: Mapped[str | None] = mapped_column(String(100))

    thread: Mapped[Thread] = relationship()
    site: Mapped[Site] = relationship()
    author: Mapped[Author | None] = relationship(primaryjoin="foreign(Comment.author_id) == Author.id")
    parent: Mapped[Comment | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    reply_to: Mapped[Comment | None] = relationship(remote_side=[id], foreign_keys=[reply_to_id])

    __table_args__ = (
        CheckConstraint(_sql_in("status", STATUS_VALUES), name="status_known"),
        # Root pages: the roots of a thread in date order (oldest/newest sorts, keyset cursors).
        Index("ix_comments_thread_roots", "thread_id", "root_id", "created_at", "id"),
        # The "top" sort (most replies first): the roots in that order, so a page is a seek, not a
        # sort of every root of the thread (the biggest thread's first page grew with its roots).
        Index(
            "ix_comments_thread_top",
            "thread_id",
            "reply_count",
            "created_at",
            "id",
            sqlite_where=text("root_id IS NULL"),
            postgresql_where=text("root_id IS NULL"),
        ),
        # Every comment under a page of roots, in one read.
        Index("ix_comments_root", "root_id"),
        # Deleting a comment sets its replies' reply_to_id to NULL: without this, a scan of every comment.
        Index("ix_comments_reply_to", "reply_to_id"),
        # A comment's replies in reading order, a few at a time (thread reads and reply pages).
        Index("ix_comments_parent_order", "parent_id", "created_at", "id"),
        # An author's comments, newest first (the author panel) and counted by status; with
        # report_count, the reports they received are summed from the index alone too (reading
        # the rows of an author with 10,000 comments cost ~60 ms on SQLite).
        Index("ix_comments_author_id", "author_id", "id"),
        Index("ix_comments_author_id_status", "author_id", "status", "report_count"),
        # An author's comments by when they were decided: recent history after a status change
        # reads the decisions since then, not every comment the author ever posted.
        Index("ix_comments_author_decided", "author_id", DECIDED_AT_KEY, "id"),
        # Author history (first-comment mode, duplicates, repeat posts).
        Index("ix_comments_author", "site_id", "author_key", "created_at"),
        # "Approved before?" and "rejected lately?" as seeks, however many comments the author
        # (or the many readers behind one address) has posted.
        Index("ix_comments_author_status", "site_id", "author_key", "status", "created_at"),
        # The same words from the same author (duplicates here, repeats elsewhere).
        Index("ix_comments_author_words", "site_id", "author_key", "body_fingerprint", "created_at"),
        # The review queues and exports.
        Index("ix_comments_site_status", "site_id", "status", "created_at"),
        Index("ix_comments_reported", "reported_at"),
        # The worker's sweep for comments whose scoring job vanished or failed.
        Index("ix_comments_needs_scoring", "needs_scoring", "status"),
        # Privacy requests find an author's comments by email hash, exports in date order (without
        # the dates SQLite read the whole site in date order instead).
        Index("ix_comments_email", "site_id", "author_email_hash", "created_at", "id"),
        Index("ix_comments_site_created", "site_id", "created_at", "id"),
        Index("ix_comments_site_updated", "site_id", "updated_at", "id"),
        # The review queues (their pages and bounded counts) read only their own comments. Partial
        # indexes, and ``review`` names the statuses as literals to use them: an index leading
        # with the status would also be taken, on SQLite without statistics, for the readers'
        # ``status IN (...)`` (and read every published comment instead of one thread's replies).
        Index(
            "ix_comments_held_created",
            "created_at",
            "id",
            sqlite_where=QUEUES_WHERE[Queue.HELD],
            postgresql_where=QUEUES_WHERE[Queue.HELD],
        ),
        # By score, highest first: the same expression as ``review``'s sort (``SCORE_KEY``).
        Index(
            "ix_comments_held_score",
            SCORE_KEY.desc(),
            "id",
            sqlite_where=QUEUES_WHERE[Queue.HELD],
            postgresql_where=QUEUES_WHERE[Queue.HELD],
        ),
        Index(
            "ix_comments_site_held_score",
            "site_id",
            SCORE_KEY.desc(),
            "id",
            sqlite_where=QUEUES_WHERE[Queue.HELD],
            postgresql_where=QUEUES_WHERE[Queue.HELD],
        ),
        Index(
            "ix_comments_rejected_created",
            "created_at",
            "id",
            sqlite_where=QUEUES_WHERE[Queue.REJECTED],
            postgresql_where=QUEUES_WHERE[Queue.REJECTED],
        ),
        Index(
            "ix_comments_reported_queue",
            "reported_at",
            "id",
            sqlite_where=QUEUES_WHERE[Queue.REPORTED],
            postgresql_where=QUEUES_WHERE[Queue.REPORTED],
        ),
        Index(
            "ix_comments_approved_queue",
            "decided_at",
            "id",
            sqlite_where=QUEUES_WHERE[Queue.APPROVED],
            postgresql_where=QUEUES_WHERE[Queue.APPROVED],
        ),
        # The moderators' thread view, a page at a time in date order.
        Index("ix_comments_thread_created", "thread_id", "created_at", "id"),
        # Rescoring a site pages by id: a range seek, not a sort of the site's comments per page.
        Index("ix_comments_site_ids", "site_id", "id"),
        # The purge's oldest IP hashes still kept; purged rows leave the index.
        Index(
            "ix_comments_ip_hash_created",
            "created_at",
            sqlite_where=text("ip_hash IS NOT NULL"),
            postgresql_where=text("ip_hash IS NOT NULL"),
        ),
        UniqueConstraint("site_id", "import_ref"),
    )

    # Every ORM update checks and bumps ``version``: two writers (two moderators, two workers)
    # cannot both apply a change to the same state; the second gets StaleDataError.
    __mapper_args__ = {"version_id_col": version}

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def thread_key(self) -> str:
        """Its thread's key (an export row carries it as a column; the export schema dumps both)."""
        return self.thread.key


class CommentRevision(Model):
    """An earlier text of an edited comment; the edit history."""

    __tablename__ = "comment_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when this text was first written
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Report(Model):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(1000), default="")
    # A keyed hash of the reader (IP): one report per reader per comment.
    reporter_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("comment_id", "reporter_hash"),
        CheckConstraint(_sql_in("reason", REPORT_REASONS), name="reason_known"),
    )


class AuditEvent(Model):
    """The append-only history of every change: who or what, when, why.

    Written only by ``services.audit.record``; updates and deletes are refused below.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    comment_id: Mapped[int | None] = mapped_column(Integer, index=True)  # kept after a purge
    actor_type: Mapped[str] = mapped_column(String(16))  # system, author, reader, moderator, host, operator
    actor_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DecisionAction(enum.StrEnum):
    """The audit actions of a decision on a comment (what ``services.review.decisions.decide`` writes
    for a moderator's approve or reject; the daily figures and the undo read them back)."""

    APPROVED = "approved"
    REJECTED = "rejected"


DECISION_ACTIONS = tuple(a.value for a in DecisionAction)
# Actor types whose decisions are a person's (a moderator's, or a host's with a moderate-scoped key).
DECIDERS = ("moderator", "host")


class ModerationDay(Model):
    """Per site and UTC day: comments held, approved and rejected. Written by ``services.figures``
    with every audit event that changes them, so the stats page reads a few rows, not the log."""

    __tablename__ = "moderation_days"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    held: Mapped[int] = mapped_column(Integer, default=0)
    approved: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_moderation_days_day", "day"),)


class QueueWait(Model):
    """A comment's last moderator decision and how long it waited for it (``services.figures``):
    the median time to a decision reads the latest of these, not the audit log."""

    __tablename__ = "queue_waits"

    comment_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # kept after a purge, like the log's
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[float] = mapped_column(Float)
    undone: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_queue_waits_decided", "decided_at"),
        Index("ix_queue_waits_site_decided", "site_id", "decided_at"),
    )


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(mapper: Any, connection: Any, target: AuditEvent) -> None:
    raise RuntimeError("the audit log is append-only")


class Moderator(Model):
    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2
    # Empty means every site; otherwise the slugs this moderator may act on.
    site_slugs: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def may_moderate(self, site_slug: str) -> bool:
        return not self.site_slugs or site_slug in self.site_slugs


class LoginFailure(Model):
    """Wrong passwords for one account from one client address, and that address's lock.

    Keyed by address so that someone who knows a moderator's email cannot lock the moderator out
    from everywhere: only their own address gets locked (the account-wide counter on
    ``Moderator`` has a much higher limit, against guessing spread over many addresses).
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id", ondelete="CASCADE"))
    address_key: Mapped[str] = mapped_column(String(64))  # keyed hash of the client IP
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("moderator_id", "address_key"),)


class ModeratorToken(Model):
    """A bearer token for the moderation API; only its SHA-256 is stored."""

    __tablename__ = "moderator_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    moderator: Mapped[Moderator] = relationship()


# The author keys of comments whose author is no longer known: erased on request, or whose address
# hash (their only key) was purged. They name nobody: no author record is keyed by them.
ERASED_AUTHOR_KEY = "erased"
PURGED_AUTHOR_KEY = "ip-purged"
UNKNOWN_AUTHOR_KEYS = (ERASED_AUTHOR_KEY, PURGED_AUTHOR_KEY)


class AuthorStatus(enum.StrEnum):
    """What moderators decided about an author as a person (``services.readers``)."""

    ACTIVE = "active"
    PREMOD = "premod"  # every new comment is held for review
    SUSPENDED = "suspended"  # until ``status_until``: a signed-in author may not post
    BANNED = "banned"  # signed in: refused; anonymous: every comment silently held


AUTHOR_STATUS_VALUES = tuple(s.value for s in AuthorStatus)


class Author(Model):
    """One person per site, as far as we can tell: a host's signed-in reader (by the token's
    ``user.id``) or an anonymous author key (the email hash, else the address hash)."""

    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # The same key as their comments' ``Comment.author_key`` (the history rules read by it).
    author_key: Mapped[str] = mapped_column(String(64))
    sso_user_id: Mapped[str | None] = mapped_column(String(255))  # the host's user.id; null: anonymous
    name: Mapped[str] = mapped_column(String(64), default="")  # the name last used
    badges: Mapped[list[str]] = mapped_column(JSON, default=list)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)  # signed in with the host's token
    email_hash: Mapped[str | None] = mapped_column(String(64))  # never the address itself
    url: Mapped[str] = mapped_column(String(2000), default="")
    role: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=AuthorStatus.ACTIVE.value)
    status_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a suspension's end
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()

    __table_args__ = (
        UniqueConstraint("site_id", "author_key"),
        UniqueConstraint("site_id", "sso_user_id"),
        CheckConstraint(_sql_in("status", AUTHOR_STATUS_VALUES), name="status_known"),
        # The dashboard's and the API's lists of authors by status (banned, on premod).
        Index("ix_authors_site_status", "site_id", "status"),
    )


class AuthorName(Model):
    """A name an author has used: their display-name history."""

    __tablename__ = "author_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("author_id", "name"),)


class SsoSecret(Model):
    """A site's secret for its readers' sign-on tokens, encrypted with a key from the environment
    (``services.sso``): the database alone does not let anyone sign tokens."""

    __tablename__ = "sso_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a newer secret replaced it; tokens it signed are accepted for a while after.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RevokedToken(Model):
    """A signed-out reader's token (its ``jti``), refused until it would have expired anyway."""

    __tablename__ = "revoked_sso_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    jti_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("site_id", "jti_hash"),)


class WebhookEvent(enum.StrEnum):
    """What a host's webhook can subscribe to."""

    PUBLISHED = "comment.published"
    HELD = "comment.held"
    REJECTED = "comment.rejected"
    REPORTED = "comment.reported"  # by enough readers, or by one (with the report)
    DECIDED = "comment.decided"  # by a moderator or a host


WEBHOOK_EVENTS = tuple(e.value for e in WebhookEvent)


class Webhook(Model):
    """A host's URL that receives signed event deliveries."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Kept as is: signing needs it. Shown to the host once, when the webhook is created.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation, deliveries are signed with both secrets until this moment, so a receiver
    # can switch to the new secret without refusing anything meanwhile.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()


class WebhookDelivery(Model):
    """The outbox and the delivery log: one row per event per webhook, written in the same
    transaction as the change it reports, so a delivery survives any restart."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    # The comment the event is about, so that erasing an author also drops what was queued about them.
    comment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed) on every attempt
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a worker may try next; a worker that claims the row moves it ahead (a lease), so a
    # process that dies mid-attempt only delays the delivery.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Every attempt: when, the answer's status or the error, how long it took.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()

    __table_args__ = (
        CheckConstraint(_sql_in("status", DELIVERY_STATUS_VALUES), name="status_known"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
        # The purge's finished deliveries past the log's age, read without the rest of the log.
        Index("ix_webhook_deliveries_finished", "status", "created_at"),
    )


class AnalysisFeedback(Model):
    """A score a Perspective client suggested for a text (``comments:suggestscore``; Coral sends 0
    for a comment its moderators approved and 1 for one they rejected): kept per site, for a later
    calibration of the classifier. The only table that holds analysed text, and only what a client
    sent to be kept; ``comments:analyze`` stores nothing."""

    __tablename__ = "analysis_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # The key that sent it (a revoked or deleted key leaves its feedback standing).
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    # {ATTRIBUTE: {"summaryScore": {"value", "type"}?, "spanScores": [...]?}}, as sent.
    attribute_scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The request's context ({"entries": [...]} or {"articleAndParentComment": ...}), as sent.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    community_id: Mapped[str | None] = mapped_column(String(500))
    client_token: Mapped[str | None] = mapped_column(String(500))
    session_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_analysis_feedback_site", "site_id", "id"),
        # The purge's oldest suggestions first: each batch reads what it deletes.
        Index("ix_analysis_feedback_created", "created_at"),
    )


# --- calibration: what the moderators' decisions say about the thresholds (services.calibration) ---


class EvidenceSource(enum.StrEnum):
    """Where a human verdict on a machine decision comes from."""

    HOLD = "hold"  # a comment the machine held, then approved or rejected by a moderator or host
    SPOT_CHECK = "spot_check"  # a machine-published comment sampled for a check, then answered
    REPORT = "report"  # a machine-published comment that readers reported and a moderator rejected


EVIDENCE_SOURCES = tuple(s.value for s in EvidenceSource)


class SpotCheckVerdict(enum.StrEnum):
    """A moderator's answer to a spot check."""

    FINE = "fine"
    SHOULD_HAVE_BEEN_HELD = "should_have_been_held"


SPOT_CHECK_VERDICTS = tuple(v.value for v in SpotCheckVerdict)


class ScoreBin(Model):
    """How many comments the pipeline scored per site, label, UTC day, model and 0.01-wide score
    bin, and what it did with them: the score distributions (hold rates at any threshold, drift)
    without reading the comments. Added to with every scoring batch."""

    __tablename__ = "score_bins"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model: Mapped[str] = mapped_column(String(100), primary_key=True)  # "" when the result named none
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)  # services.calibration.estimates.score_bin
    scored: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[int] = mapped_column(Integer, default=0)


class CalibrationEvidence(Model):
    """One label of a comment with a human verdict on the machine's decision: the unit the
    calibration's estimates count, with the weight that makes a sample stand for its population."""

    __tablename__ = "calibration_evidence"

    comment_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # kept after a purge
    label: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)  # the label's score when the machine decided
    bin: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    bad: Mapped[bool] = mapped_column(Boolean)  # rejected, or "should have been held"
    weight: Mapped[float] = mapped_column(Float, default=1.0)  # 1 / probability of being sampled
    # This label's score was at or over its hold threshold when the machine held the comment.
    held_by_label: Mapped[bool] = mapped_column(Boolean, default=False)
    held_seconds: Mapped[float | None] = mapped_column(Float)  # time in the queue, for holds
    model: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decider_type: Mapped[str] = mapped_column(String(16))  # moderator or host

    __table_args__ = (
        CheckConstraint(_sql_in("source", EVIDENCE_SOURCES), name="source_known"),
        Index("ix_calibration_evidence_site_decided", "site_id", "decided_at"),
    )


class SpotCheck(Model):
    """A machine-published comment drawn for a moderator's check, with the probability it was
    drawn with (so estimates can re-weight it) and the answer."""

    __tablename__ = "spot_checks"

    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    probability: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))  # how near the thresholds it was: far, near, edge
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verdict: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by_type: Mapped[str | None] = mapped_column(String(16))
    answered_by_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(
            f"verdict is null or {_sql_in('verdict', SPOT_CHECK_VERDICTS)}",
            name="verdict_known",
        ),
        # The queue (unanswered, oldest first) and the backlog count per site.
        Index("ix_spot_checks_site_verdict_created", "site_id", "verdict", "created_at"),
    )
