"""The dashboard's session: a signed cookie holding a server-side moderator token and a CSRF token.

The cookie is HttpOnly and SameSite=Strict, and Secure whenever the request came over https
(directly or through a trusted proxy). The moderator token inside is one ``accounts.login``
issued (stored hashed, expiring), so logging out revokes it server-side and a stolen cookie dies
with it. Both the dashboard and the moderation API (``api/auth.py``) read the session here.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface

from comments.models import Moderator
from comments.services import accounts

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ModeratorSessionInterface(SecureCookieSessionInterface):
    salt = "comments.moderator-session"

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask) -> None:
    app.session_interface = ModeratorSessionInterface()
    app.config["SESSION_COOKIE_NAME"] = "comments_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"


def csrf_token() -> str:
    """This session's CSRF token (made on first use, before login too: the login form needs one)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(str(expected), str(sent)))


def sent_csrf_token() -> str | None:
    return request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)


def session_moderator() -> Moderator | None:
    """The moderator of this request's dashboard session, if its token is still valid."""
    if "session_moderator" in g:
        cached: Moderator | None = g.session_moderator
        return cached
    token = session.get("token")
    moderator = accounts.moderator_for_token(token) if isinstance(token, str) and token else None
    g.session_moderator = moderator
    return moderator


def start(login: accounts.Session) -> None:
    """A fresh session for a moderator who just logged in: nothing from before survives."""
    end()
    session["token"] = login.token
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = False


def end() -> None:
    token = session.get("token")
    if isinstance(token, str) and token:
        accounts.revoke_token(token)
    session.clear()
    g.pop("session_moderator", None)
