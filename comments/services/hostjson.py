"""A comment as its host sees it: the rows of export pages and the comment in webhook payloads
(one shape for both; ``hostapi`` and ``webhooks`` both use it, and neither imports the other)."""

from __future__ import annotations

from typing import Any

from comments.services.threads import rfc3339


def export_json(row: Any, thread_key: str | None = None) -> dict[str, Any]:
    """A comment (an export row, or a Comment with ``thread_key`` given) as the host sees it:
    everything moderators see, with its thread key."""
    return {
        "id": row.id, "thread_key": thread_key if thread_key is not None else row.thread_key,
        "parent_id": row.parent_id, "reply_to_id": row.reply_to_id, "author_name": row.author_name,
        "author_key": (row.author_key or "")[:16], "body": row.body, "body_html": row.body_html,
        "status": row.status, "reasons": row.reasons or [], "scores": row.scores,
        "max_score": row.max_score, "model": row.model_name, "report_count": row.report_count,
        "created_at": rfc3339(row.created_at), "edited_at": rfc3339(row.edited_at),
        "decided_at": rfc3339(row.decided_at), "updated_at": rfc3339(row.updated_at),
        "imported_from": row.import_ref,
    }
