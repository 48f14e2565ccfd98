"""Looking up the site (and comment) a public request is about, once per request."""

from __future__ import annotations

from flask import g

from comments.models import Comment, Site
from comments.services.authors import get_comment
from comments.services.errors import NotFound
from comments.services.sites import get_site


def require_site(slug: str) -> Site:
    site = g.get("site")
    if site is not None and site.slug == slug:
        return site
    site = get_site(slug)
    if site is None:
        raise NotFound("site_not_found", f"No site '{slug}'.")
    g.site = site
    return site


def comment_site(comment_id: int) -> Comment:
    """The comment, with its site remembered for CORS and rate-limit keys."""
    comment = g.get("comment")
    if comment is None or comment.id != comment_id:
        comment = get_comment(comment_id)
        g.comment = comment
        g.site = comment.site
    return comment
