"""marshmallow 4 schemas: the API's contract, and the source of its OpenAPI document."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from comments.models import (
    AUTHOR_STATUS_VALUES,
    MAX_ID,
    REPORT_REASONS,
    SPOT_CHECK_VERDICTS,
    STATUS_VALUES,
    Queue,
    SpotCheckVerdict,
    Status,
)
from comments.services import parsing
from comments.services.hostjson import REASONS_DESCRIPTION
from comments.services.review.authors import AUTHOR_PAGE_DEFAULT, AUTHOR_PAGE_MAX
from comments.services.review.decisions import ACTIONS
from comments.services.review.queue import QUEUE_SORTS, QUEUES
from comments.services.sites import IDENTITY_MODES
from comments.services.threads import (
    REPLIES_PER_TOP,
    REPLIES_SHOWN,
    REPLY_PAGE_DEFAULT,
    REPLY_PAGE_MAX,
    SORTS,
    Rfc3339,
)
from comments.services.validation import (
    REASON_FILTER_PATTERN,
    SLUG_PATTERN,
    StorableSchema,
    TextError,
    check_body,
)


def _checked(check):
    def validate(value: str) -> None:
        try:
            check(value)
        except TextError as exc:
            raise ma.ValidationError(exc.message) from None

    return validate


# Python's ``$`` also matches before a final newline ("news\n"): ``(?!\n)`` keeps the match whole
# (and stays a valid pattern in the OpenAPI document).
class StrictSchema(StorableSchema):
    class Meta:
        unknown = ma.RAISE  # unknown fields are a client error (422), never silently dropped


class QueryInteger(ma.fields.Integer):
    """A whole number from a query string, read by ``parsing.integer``: ASCII digits only (marshmallow's
    ``int()`` would take "١٢", "1_0" or " 5 "), within the bounds (also stated in the OpenAPI document)."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs):
        super().__init__(validate=ma.validate.Range(minimum, maximum), **kwargs)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parsing.integer(value, minimum=self.minimum, maximum=self.maximum)
        except parsing.ParseError as exc:
            raise ma.ValidationError(exc.message) from None


class EmailAddress(ma.fields.Email):
    """An email address, without the spaces or newlines around it that forms and copied text bring
    (``security.hash_email`` normalises it again for hashing)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value.strip() if isinstance(value, str) else value, attr, data, **kwargs)


class Moment(ma.fields.DateTime):
    """An RFC 3339 date-time with its offset, read by ``parsing.moment``: as aware UTC, and refused when
    it has no UTC equivalent the database can hold (``0001-01-01T00:00:00+01:00``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parsing.moment(value)
        except parsing.ParseError as exc:
            raise ma.ValidationError(exc.message) from None


# --- requests ---------------------------------------------------------------------------------


class CommentCreateSchema(StrictSchema):
    body = ma.fields.String(
        required=True, validate=_checked(check_body), metadata={"description": "Markdown, 1–10,000 characters"}
    )
    # Checked by the submission, not here: a signed-in reader's post needs none, and one sent is ignored.
    author_name = ma.fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "1–64 characters; required unless posting with an SSO token (then ignored)"},
    )
    author_email = EmailAddress(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=254),
        metadata={"description": "optional; stored only as a keyed hash"},
    )
    parent_id = ma.fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=ma.validate.Range(min=1, max=MAX_ID)
    )
    thread_title = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=500),
        metadata={"description": "extension: the article title, used when the first comment creates the thread"},
    )
    thread_url = ma.fields.Url(
        load_default=None,
        allow_none=True,
        schemes={"http", "https"},
        validate=ma.validate.Length(max=2000),
        metadata={"description": "extension: the article URL, as thread_title"},
    )


class CommentEditSchema(StrictSchema):
    body = ma.fields.String(required=True, validate=_checked(check_body))


class PreviewCreateSchema(StrictSchema):
    body = ma.fields.String(
        required=True,
        validate=_checked(check_body),
        metadata={"description": "Markdown, 1–10,000 characters, as for a post"},
    )


class ReportCreateSchema(StrictSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.OneOf(REPORT_REASONS))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=1000))


class ThreadQuerySchema(StrictSchema):
    sort = ma.fields.String(load_default="oldest", validate=ma.validate.OneOf(SORTS))
    limit = QueryInteger(
        minimum=1, maximum=200, load_default=None, metadata={"description": "roots per page; default 50, at most 200"}
    )
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class RepliesQuerySchema(StrictSchema):
    limit = ma.fields.Integer(
        load_default=None,
        validate=ma.validate.Range(min=1, max=REPLY_PAGE_MAX),
        metadata={"description": f"direct replies per page; default {REPLY_PAGE_DEFAULT}, at most {REPLY_PAGE_MAX}"},
    )
    cursor = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=500),
        metadata={"description": "a comment's `replies_next_cursor`, or the `next_cursor` of the previous page"},
    )


class CountsQuerySchema(StrictSchema):
    keys = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=30_000),
        metadata={"description": "comma-separated thread keys, at most 100"},
    )


# --- responses --------------------------------------------------------------------------------


class ReplyToSchema(ma.Schema):
    id = ma.fields.Integer()
    author_name = ma.fields.String(allow_none=True)


class CommentSchema(ma.Schema):
    """A comment: dumps a ``Comment`` (or an ``authors.AuthorsCopy``). Thread reads and replies pages,
    the hot path, build the same shape in ``threads`` (tests/api/test_schemas_contract.py holds the
    two together)."""

    id = ma.fields.Integer()
    parent_id = ma.fields.Integer(allow_none=True)
    author_name = ma.fields.String(allow_none=True, metadata={"description": "null on a tombstone"})
    author_badges = ma.fields.List(
        ma.fields.String(),
        dump_default=list,
        metadata={"description": "the badges the host's SSO token gave the author; [] for anonymous authors"},
    )
    author_verified = ma.fields.Boolean(
        dump_default=False, metadata={"description": "true when posted by a reader signed in with an SSO token"}
    )
    body = ma.fields.String(allow_none=True, metadata={"description": "raw Markdown, as written"})
    body_html = ma.fields.String(allow_none=True, metadata={"description": "sanitised HTML"})
    status = ma.fields.String(validate=ma.validate.OneOf(STATUS_VALUES))
    created_at = Rfc3339(metadata={"description": "RFC 3339, UTC"})
    edited_at = Rfc3339(allow_none=True)
    reply_count = ma.fields.Integer()
    # Only thread reads carry it (threads builds it): read from an attribute no Comment has, so that
    # dumping a Comment never follows its ``reply_to`` relationship.
    reply_to = ma.fields.Nested(
        ReplyToSchema,
        attribute="depth_capped_reply_to",
        metadata={"description": "present on replies attached above their parent by the depth cap"},
    )
    moderation_note = ma.fields.String(
        allow_none=True, metadata={"description": "the author's own read only: why the comment is not (yet) shown"}
    )
    editable_until = Rfc3339(
        metadata={
            "description": "extension, the author's own read and the post's answer only: when the edit "
            "window closes (RFC 3339, UTC)"
        }
    )
    replies = ma.fields.List(
        ma.fields.Nested(lambda: CommentSchema()),
        dump_default=list,
        metadata={
            "description": "in thread reads and replies pages: the replies shown to readers, nested, in "
            f"reading order. Only the first {REPLIES_SHOWN} of each comment, and at most "
            f"{REPLIES_PER_TOP} under each root of a thread page (or each reply of a replies "
            "page); `replies_next_cursor` says when there are more"
        },
    )
    replies_next_cursor = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "in thread reads and replies pages: null when `replies` holds every reply "
            "readers see; else pass it as `cursor` to GET /api/v1/comments/{id}/replies "
            "for the rest. `reply_count` minus the published replies carried is how many "
            "published ones are left"
        },
    )

    @ma.post_dump
    def _tombstone(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A deleted comment shown for its replies keeps its place in the thread, not its author or text.
        if data.get("status") == Status.DELETED:
            data.update(author_name=None, author_badges=[], author_verified=False, body=None, body_html=None)
        return data


class CommentEnvelopeSchema(ma.Schema):
    comment = ma.fields.Nested(CommentSchema)


class PostedCommentSchema(CommentEnvelopeSchema):
    edit_token = ma.fields.String(metadata={"description": "send as X-Edit-Token to read, edit, delete"})


class ThreadSchema(ma.Schema):
    key = ma.fields.String()
    title = ma.fields.String()
    url = ma.fields.String()
    closed = ma.fields.Boolean()
    comment_count = ma.fields.Integer()


class ThreadPageSchema(ma.Schema):
    thread = ma.fields.Nested(ThreadSchema)
    comments = ma.fields.List(ma.fields.Nested(CommentSchema))
    next_cursor = ma.fields.String(allow_none=True)


class RepliesPageSchema(ma.Schema):
    comments = ma.fields.List(
        ma.fields.Nested(CommentSchema),
        metadata={"description": "the comment's direct replies in reading order (oldest first)"},
    )
    next_cursor = ma.fields.String(allow_none=True)


class ReportReceiptSchema(ma.Schema):
    comment_id = ma.fields.Integer()
    reason = ma.fields.String()


class ReportReceivedSchema(ma.Schema):
    report = ma.fields.Nested(ReportReceiptSchema)


class PreviewSchema(ma.Schema):
    body_html = ma.fields.String(metadata={"description": "sanitised HTML, exactly as a post would store it"})


class CountsSchema(ma.Schema):
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class SignedInReaderSchema(ma.Schema):
    name = ma.fields.String(metadata={"description": "the token's user.username"})
    badges = ma.fields.List(ma.fields.String(), metadata={"description": "the token's user.badges"})
    # No enum in the document: tests/test_vocabulary.py reads every "status" enum as a comment's.
    status = ma.fields.String(
        metadata={
            "description": f"what moderators decided ({', '.join(AUTHOR_STATUS_VALUES)}): banned or suspended"
            " readers cannot post"
        },
    )
    until = Rfc3339(allow_none=True, metadata={"description": "the end of a suspension; else null"})


class IdentitySchema(ma.Schema):
    identity = ma.fields.String(
        validate=ma.validate.OneOf(IDENTITY_MODES),
        metadata={"description": "anonymous: names typed in; sso: only signed-in readers post and report; both"},
    )
    sso_login_url = ma.fields.String(
        allow_none=True, metadata={"description": "where the widget's 'Sign in to comment' link goes"}
    )
    reader = ma.fields.Nested(
        SignedInReaderSchema, allow_none=True, metadata={"description": "null without a sign-in token"}
    )


# --- moderation -------------------------------------------------------------------------------


class LoginSchema(StrictSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(1, 254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(1, 1000))


class TokenSchema(ma.Schema):
    token = ma.fields.String()
    expires_at = ma.fields.String()


class QueueQuerySchema(StrictSchema):
    queue = ma.fields.String(load_default=Queue.HELD.value, validate=ma.validate.OneOf(QUEUES))
    site = ma.fields.String(load_default=None, validate=ma.validate.Regexp(SLUG_PATTERN))
    reason = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(REASON_FILTER_PATTERN),
        metadata={"description": "a reason code or label, e.g. toxicity, premoderation_all, reader_report"},
    )
    author = QueryInteger(
        minimum=1,
        maximum=MAX_ID,
        load_default=None,
        metadata={"description": "an author's `id` (a comment's `author.id`): only their comments"},
    )
    sort = ma.fields.String(load_default="oldest", validate=ma.validate.OneOf(QUEUE_SORTS))
    limit = QueryInteger(minimum=1, maximum=100, load_default=25)
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


def _per_status(description: str) -> ma.fields.Dict:
    return ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(STATUS_VALUES)),
        values=ma.fields.Integer(),
        metadata={"description": description},
    )


class AuthorBriefSchema(ma.Schema):
    """The author beside each comment moderators read (dumps a ``readers.AuthorBrief``)."""

    id = ma.fields.String(metadata={"description": "opaque; GET /api/v1/moderation/authors/{id}"})
    name = ma.fields.String(metadata={"description": "the name they last used"})
    badges = ma.fields.List(ma.fields.String())
    verified = ma.fields.Boolean(metadata={"description": "a reader signed in with the host's SSO token"})
    status = ma.fields.String(
        validate=ma.validate.OneOf(AUTHOR_STATUS_VALUES),
        metadata={"description": "in force now: a suspension that has run out reads active"},
    )
    until = Rfc3339(allow_none=True, metadata={"description": "the end of a suspension; null otherwise"})
    counts = _per_status("their comments per status, every status present")


class ModeratorCommentSchema(CommentSchema):
    version = ma.fields.Integer(metadata={"description": "send back as expected_version to decide"})
    scores = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(), allow_none=True)
    model = ma.fields.String(allow_none=True)
    scored_at = Rfc3339(allow_none=True)
    report_count = ma.fields.Integer()
    decided_at = Rfc3339(allow_none=True)
    author_key = ma.fields.String(metadata={"description": "a short hash that groups one author's comments"})
    author = ma.fields.Nested(
        AuthorBriefSchema,
        allow_none=True,
        metadata={"description": "null when the author's record was erased, and on a tombstone"},
    )

    @ma.post_dump
    def _tombstone_author(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A tombstone shows moderators no more of its author than readers (the base schema's rule).
        if data.get("status") == Status.DELETED:
            data["author"] = None
        return data


class QueueThreadSchema(ma.Schema):
    site = ma.fields.String()
    key = ma.fields.String()
    title = ma.fields.String()
    url = ma.fields.String()


class QueueReportSchema(ma.Schema):
    reason = ma.fields.String()
    note = ma.fields.String()
    created_at = ma.fields.String()


_BAND = "how near the thresholds its scores came: far, near or edge (the nearer, the likelier the draw)"


class QueueSpotCheckSchema(ma.Schema):
    """Why an item is in the spot-check queue."""

    probability = ma.fields.Float(metadata={"description": "the probability it was drawn with"})
    band = ma.fields.String(metadata={"description": _BAND})
    created_at = Rfc3339(metadata={"description": "when it was drawn (at publication)"})


class QueueItemSchema(ma.Schema):
    queue = ma.fields.String()
    comment = ma.fields.Nested(ModeratorCommentSchema)
    thread = ma.fields.Nested(QueueThreadSchema)
    parent = ma.fields.Nested(ModeratorCommentSchema, allow_none=True)
    reasons = ma.fields.List(ma.fields.Dict(), metadata={"description": REASONS_DESCRIPTION})
    reports = ma.fields.List(ma.fields.Nested(QueueReportSchema))
    arrived_at = ma.fields.String()
    spot_check = ma.fields.Nested(
        QueueSpotCheckSchema, allow_none=True, metadata={"description": "the check; null outside the spot-check queue"}
    )


class QueuePageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(QueueItemSchema))
    next_cursor = ma.fields.String(allow_none=True)


class DecisionSchema(StrictSchema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIONS))
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    expected_version = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        metadata={"description": "the version the moderator saw; without it only a waiting comment is decided"},
    )
    ban_author = ma.fields.Boolean(load_default=False)


class SpotCheckAnswerSchema(StrictSchema):
    verdict = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(SPOT_CHECK_VERDICTS),
        metadata={"description": "fine: rightly published; should_have_been_held: the machine should have held it"},
    )
    remove = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "with should_have_been_held: reject the comment too (a moderator's decision)"},
    )
    reason = ma.fields.String(
        load_default="", validate=ma.validate.Length(max=500), metadata={"description": "the rejection's reason"}
    )

    @ma.validates_schema
    def _remove_only_what_should_have_been_held(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("remove") and data.get("verdict") != SpotCheckVerdict.SHOULD_HAVE_BEEN_HELD:
            raise ma.ValidationError("Only a comment that should have been held is removed.", "remove")


class SpotCheckAnswererSchema(ma.Schema):
    type = ma.fields.String(metadata={"description": "moderator or host"})
    id = ma.fields.String(metadata={"description": "the moderator's id, or the host key's (key:prefix)"})


class SpotCheckSchema(ma.Schema):
    comment_id = ma.fields.Integer()
    probability = ma.fields.Float(metadata={"description": "the probability it was drawn with"})
    band = ma.fields.String(metadata={"description": _BAND})
    created_at = Rfc3339()
    verdict = ma.fields.String(validate=ma.validate.OneOf(SPOT_CHECK_VERDICTS), allow_none=True)
    answered_at = Rfc3339(allow_none=True)
    answered_by = ma.fields.Nested(
        SpotCheckAnswererSchema, allow_none=True, metadata={"description": "who answered; null while unanswered"}
    )


class SpotCheckAnsweredSchema(ma.Schema):
    spot_check = ma.fields.Nested(SpotCheckSchema)
    comment = ma.fields.Nested(ModeratorCommentSchema)


class BanSchema(StrictSchema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class DecidedSchema(ma.Schema):
    comment = ma.fields.Nested(ModeratorCommentSchema)


class AuthorQuerySchema(StrictSchema):
    limit = QueryInteger(
        minimum=1,
        maximum=AUTHOR_PAGE_MAX,
        load_default=AUTHOR_PAGE_DEFAULT,
        metadata={"description": f"comments per page; default {AUTHOR_PAGE_DEFAULT}, at most {AUTHOR_PAGE_MAX}"},
    )
    cursor = ma.fields.String(
        load_default=None, validate=ma.validate.Length(max=500), metadata={"description": "the previous `next_cursor`"}
    )


class AuthorStatusChangeSchema(StrictSchema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(AUTHOR_STATUS_VALUES))
    until = Moment(
        load_default=None,
        allow_none=True,
        metadata={"description": "RFC 3339; required for suspended (in the future), refused for the others"},
    )
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class AuthorNameSchema(ma.Schema):
    name = ma.fields.String()
    first_used_at = Rfc3339()
    last_used_at = Rfc3339()


class AuthorSchema(AuthorBriefSchema):
    """An author's record (dumps a ``review.authors.AuthorDetail``)."""

    site = ma.fields.String()
    status_reason = ma.fields.String(metadata={"description": "why, as the moderator said"})
    status_changed_at = Rfc3339(allow_none=True)
    first_seen_at = Rfc3339()
    last_seen_at = Rfc3339()
    reports_received = ma.fields.Integer(metadata={"description": "readers' reports over all their comments"})
    names = ma.fields.List(
        ma.fields.Nested(AuthorNameSchema), metadata={"description": "the names they used, most recent first"}
    )


class AuthorCommentSchema(ma.Schema):
    id = ma.fields.Integer()
    parent_id = ma.fields.Integer(allow_none=True)
    thread_key = ma.fields.String()
    thread_title = ma.fields.String(allow_none=True)
    status = ma.fields.String(validate=ma.validate.OneOf(STATUS_VALUES))
    queue = ma.fields.String(allow_none=True, metadata={"description": "the review queue it is in, if any"})
    reasons = ma.fields.List(ma.fields.Dict(), metadata={"description": REASONS_DESCRIPTION})
    body = ma.fields.String(allow_none=True, metadata={"description": "null on a deleted comment"})
    body_html = ma.fields.String(allow_none=True)
    created_at = Rfc3339()
    edited_at = Rfc3339(allow_none=True)
    decided_at = Rfc3339(allow_none=True)
    report_count = ma.fields.Integer()
    version = ma.fields.Integer(metadata={"description": "send back as expected_version to decide"})

    @ma.post_dump
    def _tombstone(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # As in every comment the API shows: a deleted comment keeps its place, not its text.
        if data.get("status") == Status.DELETED:
            data.update(body=None, body_html=None)
        return data


class AuthorEnvelopeSchema(ma.Schema):
    author = ma.fields.Nested(AuthorSchema)


class AuthorPageSchema(AuthorEnvelopeSchema):
    comments = ma.fields.List(
        ma.fields.Nested(AuthorCommentSchema), metadata={"description": "newest first, every status"}
    )
    next_cursor = ma.fields.String(allow_none=True)


class AuditQuerySchema(StrictSchema):
    comment_id = QueryInteger(minimum=1, maximum=MAX_ID, load_default=None)
    author_id = QueryInteger(
        minimum=1,
        maximum=MAX_ID,
        load_default=None,
        metadata={"description": "an author's `id`: the changes of their status"},
    )
    site = ma.fields.String(load_default=None, validate=ma.validate.Regexp(SLUG_PATTERN))
    limit = QueryInteger(minimum=1, maximum=200, load_default=50)
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=50))


class AuditActorSchema(ma.Schema):
    type = ma.fields.String()
    id = ma.fields.String(allow_none=True)


class AuditEventSchema(ma.Schema):
    id = ma.fields.Integer()
    comment_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    actor = ma.fields.Nested(AuditActorSchema)
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    reasons = ma.fields.List(ma.fields.Dict())
    at = ma.fields.String()


class AuditPageSchema(ma.Schema):
    events = ma.fields.List(ma.fields.Nested(AuditEventSchema))
    next_cursor = ma.fields.String(allow_none=True)
