"""Signing deliveries, and what a receiver does to check a signature."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

from comments.models import Webhook, utcnow

SIGNATURE_HEADER = "X-Comments-Signature"
TIMESTAMP_HEADER = "X-Comments-Timestamp"
# How long after a rotation deliveries are also signed with the old secret.
ROTATION_OVERLAP = timedelta(hours=24)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does (and the README shows): recompute, compare in constant time with each
    signature sent, and refuse timestamps too far from now so a captured delivery cannot be
    replayed later."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in (signature_header or "").split(","))


def signature_header(webhook: Webhook, timestamp: int, body: bytes) -> str:
    signatures = [sign(webhook.secret, timestamp, body)]
    if webhook.previous_secret and webhook.previous_secret_until and webhook.previous_secret_until > utcnow():
        signatures.append(sign(webhook.previous_secret, timestamp, body))
    return ",".join(signatures)
