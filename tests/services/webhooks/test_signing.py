"""Signing webhook deliveries (pure: no database, no app)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from comments.models import Webhook, utcnow
from comments.services.webhooks.signing import sign, signature_header, verify

BODY = b'{"event":"ping"}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"whsec_a", b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("whsec_a", NOW, BODY) == f"v1={expected}"


def test_a_receiver_accepts_a_fresh_signature_and_any_one_of_several():
    signature = sign("whsec_a", NOW, BODY)
    assert verify("whsec_a", str(NOW), signature, BODY, now=NOW + 10)
    assert verify("whsec_a", str(NOW), f"{sign('whsec_old', NOW, BODY)}, {signature}", BODY, now=NOW)


def test_a_receiver_refuses_old_timestamps_other_secrets_other_bodies_and_garbage():
    signature = sign("whsec_a", NOW, BODY)
    assert not verify("whsec_a", str(NOW), signature, BODY, now=NOW + 301)  # a replay, later
    assert not verify("whsec_a", str(NOW), signature, BODY, now=NOW - 301)
    assert not verify("whsec_b", str(NOW), signature, BODY, now=NOW)
    assert not verify("whsec_a", str(NOW), signature, BODY + b" ", now=NOW)
    assert not verify("whsec_a", "yesterday", signature, BODY, now=NOW)
    assert not verify("whsec_a", str(NOW), "", BODY, now=NOW)


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends():
    webhook = Webhook(
        secret="whsec_new", previous_secret="whsec_old", previous_secret_until=utcnow() + timedelta(hours=1)
    )
    assert signature_header(webhook, NOW, BODY) == f"{sign('whsec_new', NOW, BODY)},{sign('whsec_old', NOW, BODY)}"
    webhook.previous_secret_until = utcnow() - timedelta(seconds=1)
    assert signature_header(webhook, NOW, BODY) == sign("whsec_new", NOW, BODY)
