"""Who reviews, and what each reviewer may see: a moderator's sites, a host key's one site."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from comments.extensions import db
from comments.models import MAX_ID, Author, Comment, Moderator, Site
from comments.services import readers
from comments.services.audit import Actor
from comments.services.errors import Forbidden, NotFound
from comments.services.sites import get_site


@dataclass(frozen=True)
class HostReviewer:
    """A host site deciding on its own comments with an API key that has the ``moderate`` scope."""

    site_slug: str
    key_prefix: str
    id: None = None

    @property
    def site_slugs(self) -> list[str]:
        return [self.site_slug]

    @property
    def email(self) -> str:
        return f"host key {self.key_prefix}…"

    def may_moderate(self, site_slug: str) -> bool:
        return site_slug == self.site_slug


Reviewer = Moderator | HostReviewer


def reviewer_actor(reviewer: Reviewer) -> Actor:
    if isinstance(reviewer, HostReviewer):
        return Actor("host", f"key:{reviewer.key_prefix}")
    return Actor("moderator", str(reviewer.id))


def visible_site_ids(reviewer: Reviewer, site_slug: str | None) -> list[int] | None:
    """Site ids the reviewer may see, or only ``site_slug``'s (None: all)."""
    if site_slug:
        site = get_site(site_slug)
        if site is None:
            raise NotFound("site_not_found", f"No site '{site_slug}'.")
        if not reviewer.may_moderate(site.slug):
            raise Forbidden("site_not_allowed", f"You do not moderate '{site_slug}'.")
        return [site.id]
    if not reviewer.site_slugs:
        return None
    return list(db.session.execute(select(Site.id).where(Site.slug.in_(reviewer.site_slugs))).scalars())


def visible_sites(moderator: Moderator) -> list[Site]:
    query = select(Site).order_by(Site.slug)
    if moderator.site_slugs:
        query = query.where(Site.slug.in_(moderator.site_slugs))
    return list(db.session.execute(query).scalars())


def site_for(reviewer: Reviewer, site_slug: str) -> Site:
    ids = visible_site_ids(reviewer, site_slug)
    assert ids is not None
    site = db.session.get(Site, ids[0])
    assert site is not None  # its id was just read
    return site


def get_comment(reviewer: Reviewer, comment_id: int) -> Comment:
    """A comment on one of the reviewer's sites (404 otherwise, 403 for another site's)."""
    if not 0 < comment_id <= MAX_ID:
        # PostgreSQL refuses to compare an integer column with a larger number (a 500, not a 404).
        raise NotFound("comment_not_found", "No such comment.")
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("comment_not_found", "No such comment.")
    if not reviewer.may_moderate(comment.site.slug):
        raise Forbidden("site_not_allowed", "You do not moderate this site.")
    return comment


def get_author(reviewer: Reviewer, author_id: str) -> Author:
    """The author an API id names, on one of the reviewer's sites: another site's author is a 404
    like an unknown one (a site-scoped moderator learns nothing of who comments elsewhere)."""
    author = readers.get_author(author_id)
    if not reviewer.may_moderate(author.site.slug):
        raise NotFound("author_not_found", "No such author.")
    return author
