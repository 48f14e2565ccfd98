"""Who the reader is: the host's SSO token in ``Authorization: Bearer``, checked for the site."""

from __future__ import annotations

from flask import request

from comments.models import Site
from comments.services import sso


def signed_in_reader(site: Site) -> sso.Reader | None:
    """The reader the request's token signs in, None without a token; a bad token is a 401
    (``invalid_token``): a reader who meant to be signed in is never quietly treated as anonymous."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise sso.invalid("send it as Authorization: Bearer <token>")
    return sso.verify_token(site, token.strip())
