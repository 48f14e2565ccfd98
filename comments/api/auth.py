"""Who the moderator is: a bearer token from /auth/token (the dashboard adds its session later)."""

from __future__ import annotations

from flask import g, request

from comments.models import Moderator
from comments.security import API_KEY_PREFIX
from comments.services.accounts import Unauthorized, moderator_for_token
from comments.services.review import HostReviewer


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_moderator() -> Moderator | HostReviewer:
    moderator = g.get("moderator")
    if moderator is not None:
        return moderator
    token = bearer_token()
    if token and token.startswith(API_KEY_PREFIX):
        # A site API key with the "moderate" scope decides on that site's comments only.
        from comments.api.hostauth import host_reviewer

        g.moderator = host_reviewer(token)
        return g.moderator
    moderator = moderator_for_token(token) if token else None
    if moderator is None:
        raise Unauthorized("unauthorized", "This needs a moderator's token: Authorization: Bearer <token>.")
    g.moderator = moderator
    return moderator
