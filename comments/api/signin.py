"""Who the reader is: the host's SSO token in ``Authorization: Bearer``, checked for the site."""

from __future__ import annotations

from typing import Any

from flask import request

from comments.models import Site
from comments.services import sso

SECURITY_SCHEME = "readerToken"
# For the OpenAPI document: the calls that take a token take it optionally ({} = none sent).
OPTIONAL: list[dict[str, list[str]]] = [{}, {SECURITY_SCHEME: []}]
REQUIRED: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]


def signed_in_reader(site: Site, *, revoked_ok: bool = False) -> sso.Reader | None:
    """The reader the request's token signs in, None without a token; a bad token is a 401
    (``invalid_token``): a reader who meant to be signed in is never quietly treated as anonymous."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise sso.invalid("send it as Authorization: Bearer <token>")
    return sso.verify_token(site, token, revoked_ok=revoked_ok)


def required_reader(site: Site, *, revoked_ok: bool = False) -> sso.Reader:
    """The signed-in reader, for a call that means nothing without one (signing out)."""
    reader = signed_in_reader(site, revoked_ok=revoked_ok)
    if reader is None:
        raise sso.invalid("none was sent (Authorization: Bearer <token>)")
    return reader


def register_security_scheme(api: Any) -> None:
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The host's single sign-on token for its signed-in reader: HS256 under the site's"
            " SSO secret, with Coral Talk's claims (`user.id`, `user.username`, ...; `iat`/`exp`, `jti`).",
        },
    )
