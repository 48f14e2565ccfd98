"""Who the moderator is: a bearer token from /auth/token (the dashboard adds its session later)."""

from __future__ import annotations

from flask import g, request

from comments.models import Moderator
from comments.services.accounts import Unauthorized, moderator_for_token


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_moderator() -> Moderator:
    moderator = g.get("moderator")
    if moderator is not None:
        return moderator
    token = bearer_token()
    moderator = moderator_for_token(token) if token else None
    if moderator is None:
        raise Unauthorized("unauthorized", "This needs a moderator's token: Authorization: Bearer <token>.")
    g.moderator = moderator
    return moderator
