"""Who the moderator is: a bearer token from /auth/token, or the dashboard's session.

A request authenticated by the session cookie must also send the session's CSRF token in the
``X-CSRF-Token`` header on anything but GET/HEAD/OPTIONS: a cookie alone proves nothing about
who wrote the request.
"""

from __future__ import annotations

from flask import g, request

from comments import moderator_session
from comments.api.hostauth import bearer_token, host_reviewer
from comments.models import Moderator
from comments.security import API_KEY_PREFIX
from comments.services.accounts import Unauthorized, moderator_for_token
from comments.services.errors import Forbidden
from comments.services.review.access import HostReviewer


def require_moderator() -> Moderator | HostReviewer:
    moderator = g.get("moderator")
    if moderator is not None:
        return moderator
    token = bearer_token()
    if token and token.startswith(API_KEY_PREFIX):
        # A site API key with the "moderate" scope decides on that site's comments only.
        g.moderator = host_reviewer(token)
        return g.moderator
    if token:
        moderator = moderator_for_token(token)
    elif request.headers.get("Authorization") is None:
        moderator = moderator_session.session_moderator()
        if (
            moderator is not None
            and request.method not in moderator_session.SAFE_METHODS
            and not moderator_session.csrf_ok(request.headers.get(moderator_session.CSRF_HEADER))
        ):
            raise Forbidden(
                "csrf_failed", "A request authenticated by the dashboard session needs its X-CSRF-Token header."
            )
    if moderator is None:
        raise Unauthorized(
            "unauthorized", "This needs a moderator's token: Authorization: Bearer <token>, or a dashboard session."
        )
    g.moderator = moderator
    return moderator
