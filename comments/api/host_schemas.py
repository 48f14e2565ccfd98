"""marshmallow schemas of the host-site API (requests and answers; the OpenAPI document)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from comments.api.schemas import EmailAddress, Moment, QueryInteger, StrictSchema, ThreadSchema
from comments.models import DELIVERY_STATUS_VALUES, STATUS_VALUES, WEBHOOK_EVENTS
from comments.services.apikeys import SCOPES
from comments.services.hostjson import ExportCommentSchema
from comments.services.sites import CLASSIFIER_LABELS, AutoCalibrateSchema, SiteSettingsSchema
from comments.services.threads import Rfc3339


class PageQuerySchema(StrictSchema):
    limit = QueryInteger(minimum=1, maximum=500, load_default=50)
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


# --- keys -------------------------------------------------------------------------------------


class KeyCreateSchema(StrictSchema):
    label = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    scopes = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(SCOPES)),
        load_default=["host"],
        validate=ma.validate.Length(min=1, max=len(SCOPES)),
        metadata={"description": "`host` (this API) and/or `moderate` (the moderation API, for this site only)"},
    )


class KeySchema(ma.Schema):
    """Dumps an ``ApiKey``."""

    id = ma.fields.Integer()
    prefix = ma.fields.String(metadata={"description": "the key's first characters, to tell keys apart"})
    label = ma.fields.String()
    scopes = ma.fields.List(ma.fields.String(), attribute="scope_list")
    created_at = Rfc3339()
    last_used_at = Rfc3339(allow_none=True)
    revoked_at = Rfc3339(allow_none=True)


class KeyListSchema(ma.Schema):
    keys = ma.fields.List(ma.fields.Nested(KeySchema))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "always null: one page"})


class NewKeySchema(ma.Schema):
    key = ma.fields.Nested(KeySchema)
    api_key = ma.fields.String(metadata={"description": "the key itself: shown only in this answer"})


# --- threads ----------------------------------------------------------------------------------


class ThreadPutSchema(StrictSchema):
    title = ma.fields.String(validate=ma.validate.Length(max=500))
    url = ma.fields.String(
        validate=[ma.validate.Length(max=2000), lambda v: _http_url_or_empty(v)],
        metadata={"description": "the article's http(s) URL, or empty"},
    )
    closed = ma.fields.Boolean(metadata={"description": "closing stops new comments; reading goes on"})


def _http_url_or_empty(value: str) -> None:
    if value:
        ma.validate.URL(schemes={"http", "https"}, require_tld=False)(value)


class StatusCountsSchema(ma.Schema):
    pending = ma.fields.Integer()
    published = ma.fields.Integer()
    held = ma.fields.Integer()
    rejected = ma.fields.Integer()
    deleted = ma.fields.Integer()


class HostThreadSchema(ThreadSchema):
    """Dumps a ``hostapi.CountedThread``."""

    comment_count = ma.fields.Integer(attribute="published_count")
    created_at = Rfc3339()
    counts = ma.fields.Nested(StatusCountsSchema)


class ThreadEnvelopeSchema(ma.Schema):
    thread = ma.fields.Nested(HostThreadSchema)


class ThreadListQuerySchema(PageQuerySchema):
    closed = ma.fields.Boolean(load_default=None, allow_none=True)


class ThreadListSchema(ma.Schema):
    threads = ma.fields.List(ma.fields.Nested(HostThreadSchema))
    next_cursor = ma.fields.String(allow_none=True)


# --- exports ----------------------------------------------------------------------------------


def _statuses(value: str) -> None:
    unknown = [s for s in value.split(",") if s not in STATUS_VALUES]
    if unknown:
        raise ma.ValidationError(f"Statuses are some of: {', '.join(STATUS_VALUES)} (comma-separated).")


class ExportFilterSchema(StrictSchema):
    status = ma.fields.String(
        load_default=None, validate=_statuses, metadata={"description": "one status or several, comma-separated"}
    )
    since = Moment(load_default=None, metadata={"description": "RFC 3339; comments created at or after"})
    until = Moment(load_default=None, metadata={"description": "RFC 3339; comments created before"})
    thread = ma.fields.String(
        load_default=None, validate=ma.validate.Length(1, 255), metadata={"description": "only this thread key"}
    )
    changed_since = Moment(
        load_default=None,
        metadata={
            "description": "RFC 3339; comments changed (status, text, counts) at or after this, in the "
            "order they changed: keep the last `updated_at` to sync incrementally"
        },
    )


class ExportQuerySchema(ExportFilterSchema):
    limit = QueryInteger(minimum=1, maximum=500, load_default=100)
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class StreamQuerySchema(ExportFilterSchema):
    cursor = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=500),
        metadata={"description": "resume after the comment a JSON page ended on"},
    )


class ExportPageSchema(ma.Schema):
    comments = ma.fields.List(ma.fields.Nested(ExportCommentSchema))
    next_cursor = ma.fields.String(allow_none=True)


# --- settings ---------------------------------------------------------------------------------


class SettingsChangeSchema(SiteSettingsSchema, StrictSchema):
    """Any subset of the settings. A label set to null in reject_thresholds removes it."""

    reject_thresholds = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(CLASSIFIER_LABELS)), values=ma.fields.Float(allow_none=True)
    )
    allowed_origins = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 300)), validate=ma.validate.Length(max=100)
    )


class SettingsSchema(ma.Schema):
    premoderation = ma.fields.String()
    banned_words = ma.fields.List(ma.fields.String())
    suspect_words = ma.fields.List(ma.fields.String())
    edit_window_seconds = ma.fields.Integer()
    max_depth = ma.fields.Integer()
    report_threshold = ma.fields.Integer()
    duplicate_window_seconds = ma.fields.Integer()
    repeat_window_seconds = ma.fields.Integer()
    thresholds = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    reject_thresholds = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    failure_policy = ma.fields.String()
    shadow_mode = ma.fields.Boolean()
    calibration_objective = ma.fields.Dict(
        metadata={
            "description": 'what recommended thresholds aim for: {"kind": "balance"} (the default), '
            '{"kind": "precision", "target": 0.9} or {"kind": "hold_rate", "target": 0.03}'
        }
    )
    auto_calibrate = ma.fields.Nested(
        AutoCalibrateSchema,
        metadata={"description": "apply the recommended thresholds once a day, within [min, max], by at most max_step"},
    )
    allowed_origins = ma.fields.List(ma.fields.String())


class SettingsEnvelopeSchema(ma.Schema):
    settings = ma.fields.Nested(SettingsSchema)


# --- webhooks ---------------------------------------------------------------------------------


class WebhookCreateSchema(StrictSchema):
    url = ma.fields.String(required=True, validate=ma.validate.Length(1, 2000))
    events = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(WEBHOOK_EVENTS)),
        required=True,
        validate=ma.validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
    )
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


class WebhookChangeSchema(StrictSchema):
    url = ma.fields.String(validate=ma.validate.Length(1, 2000))
    events = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(WEBHOOK_EVENTS)),
        validate=ma.validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
    )
    description = ma.fields.String(validate=ma.validate.Length(max=200))
    active = ma.fields.Boolean()


class WebhookSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    description = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = ma.fields.String()
    secret_prefix = ma.fields.String()
    previous_secret_valid_until = ma.fields.String(
        allow_none=True,
        metadata={"description": "after a rotation: until when deliveries are also signed with the old secret"},
    )


class WebhookEnvelopeSchema(ma.Schema):
    webhook = ma.fields.Nested(WebhookSchema)


class SsoSecretSchema(ma.Schema):
    secret = ma.fields.String(
        metadata={"description": "the site's SSO secret, for signing readers' HS256 tokens: shown only in this answer"}
    )


class NewWebhookSchema(WebhookEnvelopeSchema):
    secret = ma.fields.String(metadata={"description": "the signing secret: shown only in this answer"})


class WebhookListSchema(ma.Schema):
    webhooks = ma.fields.List(ma.fields.Nested(WebhookSchema))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "always null: at most 20"})


class DeliveryQuerySchema(PageQuerySchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATUS_VALUES))


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    event = ma.fields.String()
    status = ma.fields.String()
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.String(allow_none=True)
    last_attempt_at = ma.fields.String(allow_none=True)
    response_status = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    attempt_log = ma.fields.List(ma.fields.Dict())
    created_at = ma.fields.String()
    delivered_at = ma.fields.String(allow_none=True)
    payload = ma.fields.Dict()


class DeliveryPageSchema(ma.Schema):
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema))
    next_cursor = ma.fields.String(allow_none=True)


# --- privacy ----------------------------------------------------------------------------------


class PrivacyRequestSchema(StrictSchema):
    """Whose data: ``email`` (the address they commented with, or their SSO token's) or
    ``sso_user_id`` (the host's ``user.id`` in its SSO tokens), exactly one of them."""

    email = EmailAddress(validate=ma.validate.Length(max=254))
    sso_user_id = ma.fields.String(
        validate=ma.validate.Length(1, 255), metadata={"description": "the host's user id (the SSO token's user.id)"}
    )

    @ma.validates_schema
    def _one_subject(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [name for name in ("email", "sso_user_id") if data.get(name) is not None]
        if len(given) != 1:
            message = "Give exactly one of email and sso_user_id."
            raise ma.ValidationError({name: [message] for name in ("email", "sso_user_id")})


class PrivacyExportQuerySchema(PageQuerySchema):
    pass


class ErasedSchema(ma.Schema):
    erased = ma.fields.Integer(metadata={"description": "comments whose author and text were removed"})
    removed = ma.fields.Integer(metadata={"description": "of those, comments deleted outright (no replies)"})
    tombstoned = ma.fields.Integer(metadata={"description": "of those, kept as tombstones under replies"})
    authors = ma.fields.Integer(
        metadata={"description": "author records removed (names, badges, the SSO user id, the email's hash)"}
    )


class FeedbackDeleteQuerySchema(StrictSchema):
    """Which stored suggestions (``comments:suggestscore``) go: those sent with this ``clientToken``
    and/or ``communityId``; neither given: all of the site's."""

    client_token = ma.fields.String(
        validate=ma.validate.Length(1, 500), metadata={"description": "the clientToken the suggestions were sent with"}
    )
    community_id = ma.fields.String(
        validate=ma.validate.Length(1, 500), metadata={"description": "the communityId the suggestions were sent with"}
    )


class FeedbackDeletedSchema(ma.Schema):
    removed = ma.fields.Integer(metadata={"description": "suggestions deleted"})
