"""A comment as its host sees it: the rows of export pages and the comment in webhook payloads
(one shape for both; ``hostapi`` and ``webhooks`` both use it, and neither imports the other)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from comments.models import STATUS_VALUES, Reason
from comments.services.threads import Rfc3339


class _AuthorKey(ma.fields.String):
    """The author key's first 16 characters: enough to group one author's comments."""

    def _serialize(self, value: str | None, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return (value or "")[:16]


class _AuthorId(ma.fields.String):
    """The author record's id as the moderation API shows it (``readers.public_id``: the decimal
    string, opaque to clients; null for a comment whose author record was erased)."""

    def _serialize(self, value: int | str | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


REASONS_DESCRIPTION = "why it is where it is: each reason has `kind` and, as the kind has them, " + ", ".join(
    f"`{key}`" for key in sorted(Reason.__annotations__) if key != "kind"
)


class _Reasons(ma.fields.List[dict[str, Any]]):
    def _serialize(self, value: list[Any] | None, attr: str | None, obj: Any, **kwargs: Any) -> list[Any] | None:
        return super()._serialize(value or [], attr, obj, **kwargs)


class ExportCommentSchema(ma.Schema):
    """A comment as the host sees it (exports, privacy exports, webhook payloads): everything
    moderators see, with its thread key. Dumps an export row or a Comment."""

    id = ma.fields.Integer()
    thread_key = ma.fields.String()
    parent_id = ma.fields.Integer(allow_none=True)
    reply_to_id = ma.fields.Integer(allow_none=True)
    author_name = ma.fields.String()
    author_key = _AuthorKey(metadata={"description": "a short hash grouping one author's comments"})
    author_id = _AuthorId(
        allow_none=True,
        metadata={"description": "the author's record (the moderation API's author id); null once erased"},
    )
    author_badges = ma.fields.List(
        ma.fields.String(), metadata={"description": "the badges of the host's token it was posted with; [] anonymous"}
    )
    author_verified = ma.fields.Boolean(metadata={"description": "posted signed in with the host's SSO token"})
    body = ma.fields.String()
    body_html = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUS_VALUES))
    reasons = _Reasons(ma.fields.Dict(), metadata={"description": REASONS_DESCRIPTION})
    scores = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(), allow_none=True)
    max_score = ma.fields.Float(allow_none=True)
    model = ma.fields.String(attribute="model_name", allow_none=True)
    report_count = ma.fields.Integer()
    created_at = Rfc3339()
    edited_at = Rfc3339(allow_none=True)
    decided_at = Rfc3339(allow_none=True)
    updated_at = Rfc3339(metadata={"description": "when anything about the comment last changed"})
    imported_from = ma.fields.String(attribute="import_ref", allow_none=True)


EXPORTED_COMMENT = ExportCommentSchema()
