"""Keyed hashes, edit tokens and API keys: the service's small cryptographic toolbox."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


def _hash_key() -> bytes:
    key: str = current_app.config["HASH_KEY"]
    return key.encode()


def keyed_hash(kind: str, value: str) -> str:
    """HMAC-SHA256 of a personal value (IP, email): linkable for rules, not reversible by lookup."""
    return hmac.new(_hash_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def hash_ip(ip: str) -> str:
    return keyed_hash("ip", ip)


def hash_email(email: str) -> str:
    return keyed_hash("email", email.strip().lower())


def new_nonce() -> str:
    return secrets.token_hex(16)


def _token_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="comments.edit-token")


def make_edit_token(comment_id: int, nonce: str) -> str:
    return _token_serializer().dumps({"c": comment_id, "n": nonce})


class TokenError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_edit_token(token: str | None, comment_id: int, nonce: str) -> None:
    """Raise TokenError unless ``token`` was issued for this comment and is still valid."""
    if not token:
        raise TokenError("edit_token_missing", "This needs the X-Edit-Token header.")
    max_age = current_app.config["EDIT_TOKEN_MAX_AGE"]
    try:
        data: Any = _token_serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenError("edit_token_expired", "The edit token has expired.") from None
    except BadSignature:
        raise TokenError("edit_token_invalid", "The edit token is not valid.") from None
    if (
        not isinstance(data, dict)
        or data.get("c") != comment_id
        or not hmac.compare_digest(str(data.get("n", "")), nonce)
    ):
        raise TokenError("edit_token_invalid", "The edit token is not valid for this comment.")


API_KEY_PREFIX = "cmk_"


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (the key shown once, its visible prefix, the hash stored)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:12], hash_api_key(key)


def hash_api_key(key: str) -> str:
    # Keys carry 256 bits of randomness, so a plain SHA-256 is enough (no slow hash needed).
    return hashlib.sha256(key.encode()).hexdigest()
