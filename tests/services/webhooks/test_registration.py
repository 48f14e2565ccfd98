"""What hosts see of a webhook and of a delivery: the records the API's schemas dump (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from comments.api.host_schemas import DeliverySchema, WebhookSchema
from comments.models import Webhook, WebhookDelivery, utcnow
from comments.services.webhooks.outbox import PENDING, DeliveryView, delivery_view
from comments.services.webhooks.registration import WebhookView, webhook_view


def test_the_records_have_the_fields_of_the_api_contract():
    assert {f.name for f in dataclasses.fields(WebhookView)} == set(WebhookSchema().fields)
    assert {f.name for f in dataclasses.fields(DeliveryView)} == set(DeliverySchema().fields)


def test_a_webhook_shows_only_its_secrets_prefix_and_the_old_secrets_overlap():
    created = datetime(2026, 1, 1, tzinfo=UTC)
    webhook = Webhook(
        id=3,
        url="https://hooks.example/x",
        events=["comment.held"],
        description="",
        active=True,
        created_at=created,
        secret="whsec_0123456789abcdef",
    )
    dumped = WebhookSchema().dump(webhook_view(webhook))
    assert dumped["secret_prefix"] == "whsec_0123" and "secret" not in dumped
    assert dumped["created_at"].startswith("2026-01-01T00:00:00") and dumped["previous_secret_valid_until"] is None
    webhook.previous_secret, webhook.previous_secret_until = "whsec_old", utcnow() + timedelta(hours=1)
    assert webhook_view(webhook).previous_secret_valid_until is not None
    webhook.previous_secret_until = utcnow() - timedelta(seconds=1)
    assert webhook_view(webhook).previous_secret_valid_until is None


def test_a_delivery_shows_when_it_is_next_tried_only_while_pending():
    delivery = WebhookDelivery(
        id=7,
        event="ping",
        status=PENDING,
        attempts=1,
        next_attempt_at=utcnow(),
        body='{"event": "ping"}',
        attempt_log=None,
    )
    dumped = DeliverySchema().dump(delivery_view(delivery))
    assert dumped["next_attempt_at"] is not None and dumped["payload"] == {"event": "ping"}
    assert dumped["attempt_log"] == []
    delivery.status = "failed"
    assert delivery_view(delivery).next_attempt_at is None
