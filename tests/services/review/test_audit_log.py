"""The audit log's entries as reviewers read them: the record the API's schema dumps (pure)."""

from __future__ import annotations

import dataclasses

from comments.api.schemas import AuditActorSchema, AuditEventSchema
from comments.services.review.audit_log import AuditActor, AuditEntry


def test_an_entry_has_the_fields_of_the_api_contract():
    assert {f.name for f in dataclasses.fields(AuditEntry)} == set(AuditEventSchema().fields)
    assert {f.name for f in dataclasses.fields(AuditActor)} == set(AuditActorSchema().fields)
    entry = AuditEntry(
        id=1,
        comment_id=None,
        action="settings_changed",
        actor=AuditActor("host", "key:abcd"),
        from_status=None,
        to_status=None,
        reasons=[{"kind": "settings"}],
        at="2026-01-01T00:00:00Z",
    )
    assert AuditEventSchema().dump(entry)["actor"] == {"type": "host", "id": "key:abcd"}
