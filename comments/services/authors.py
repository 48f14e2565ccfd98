"""What a comment's author may do: read it while waiting, edit, delete.

The author proves it with the edit token their post was answered with (``X-Edit-Token``) or, for
a comment posted signed in, with a sign-in token of the same reader (``sso.Reader``): the host's
token stands for the person, so it works from any device and after the edit token is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select

from comments.extensions import db
from comments.models import AuthorStatus, Comment, CommentRevision, Site, Status, utcnow
from comments.security import TokenError, check_edit_token
from comments.services import moderation, readers
from comments.services.audit import Actor
from comments.services.errors import Conflict, Forbidden, NotFound
from comments.services.sites import effective_settings
from comments.services.sso import Reader
from comments.services.submission import Scoring, editable_until, resubmit

# What an author is told about their own comment, in plain words and without scores.
AUTHOR_NOTES = {
    Status.PENDING: "Your comment is being checked and will appear shortly.",
    Status.HELD: "Your comment is waiting for review by a moderator.",
    Status.REJECTED: "Your comment was not published because it does not follow this site's rules.",
}


def get_comment(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("comment_not_found", "No such comment.")
    return comment


def posted_by(comment: Comment, reader: Reader | None) -> bool:
    """Whether the signed-in reader (verified for the comment's site) wrote the comment."""
    if reader is None or comment.author_id is None:
        return False
    author = comment.author
    return (
        author is not None
        and author.site_id == comment.site_id
        and author.verified
        and author.sso_user_id == reader.user_id
    )


def authorised(comment: Comment, token: str | None, reader: Reader | None = None) -> None:
    """The caller is the comment's author (their sign-in token, else their edit token), or 403."""
    if posted_by(comment, reader):
        return
    if token is None and reader is not None:
        raise Forbidden("not_comment_author", "Only the reader who wrote this comment can change it.")
    try:
        check_edit_token(token, comment.id, comment.edit_nonce)
    except TokenError as exc:
        raise Forbidden(exc.code, exc.message) from None


def view(comment: Comment, token: str | None, reader: Reader | None = None) -> tuple[Comment, bool]:
    """The comment and whether the caller is its author. Only authors see unpublished ones."""
    is_author = posted_by(comment, reader)
    if token is not None and not is_author:
        authorised(comment, token)
        is_author = True
    if comment.status != Status.PUBLISHED and not is_author:
        if comment.status == Status.DELETED and has_replies(comment):
            return comment, False  # a tombstone is public
        raise NotFound("comment_not_found", "No such comment.")
    return comment, is_author


def author_note(status: str) -> str | None:
    return AUTHOR_NOTES.get(Status(status))


def has_replies(comment: Comment) -> bool:
    return bool(db.session.execute(select(exists().where(Comment.parent_id == comment.id))).scalar())


def _within_window(comment: Comment) -> None:
    window = effective_settings(comment.site)["edit_window_seconds"]
    if utcnow() - comment.created_at > timedelta(seconds=window):
        minutes = window // 60
        raise Forbidden(
            "edit_window_closed", f"Comments can be changed only in the first {minutes} minutes after posting."
        )


def edit(
    comment: Comment, token: str | None, body: str, scoring: Scoring | None = None, reader: Reader | None = None
) -> Comment:
    authorised(comment, token, reader)
    if comment.author is not None:
        # A banned or suspended signed-in author is refused an edit as they are a post (an
        # anonymous one is held again by the rules, as their new posts are).
        readers.check_may_post(comment.author)
    if comment.status in (Status.DELETED, Status.REJECTED):
        raise Conflict("not_editable", f"A {comment.status} comment cannot be edited.")
    if comment.thread.closed:
        raise Forbidden("thread_closed", "This thread is closed.")
    _within_window(comment)
    resubmit(comment, body, scoring)
    return comment


def remove(comment: Comment, token: str | None, reader: Reader | None = None) -> None:
    """Delete at the author's request. The text goes; a comment with replies stays a tombstone.
    A banned author may still take their words back."""
    authorised(comment, token, reader)
    if comment.status == Status.DELETED:
        return
    _within_window(comment)
    comment.body = ""
    comment.body_html = ""
    comment.author_name = ""
    db.session.execute(delete(CommentRevision).where(CommentRevision.comment_id == comment.id))
    moderation.change_status(
        comment,
        Status.DELETED,
        Actor("author", comment.author_key[:16]),
        "deleted",
        reasons=[{"kind": "author", "code": "deleted_by_author"}],
    )
    # Flushed here: a comment changed meanwhile (StaleDataError) is found while the caller can retry.
    db.session.flush()


@dataclass(frozen=True)
class AuthorsCopy:
    """A comment as its author reads it (with the edit token, or in the answer to their post): the
    comment's own fields, plus why it is not (yet) shown and when their edit window closes."""

    comment: Comment
    moderation_note: str | None
    editable_until: datetime

    def __getattr__(self, name: str) -> Any:
        # Every other field is the comment's: the API's one comment schema dumps both.
        return getattr(object.__getattribute__(self, "comment"), name)  # no recursion while unset


def authors_copy(comment: Comment) -> AuthorsCopy:
    return AuthorsCopy(
        comment, author_note(comment.status), editable_until(effective_settings(comment.site), comment.created_at)
    )


@dataclass(frozen=True)
class SignedIn:
    """A signed-in reader as they see themselves: the token's name and badges, and what moderators
    decided about them on this site (``active`` for a reader who has not posted yet)."""

    name: str
    badges: list[str]
    status: str
    until: datetime | None  # a suspension's end


def signed_in(site: Site, reader: Reader) -> SignedIn:
    author = readers.known_reader(site, reader)  # a read: a reader who only looks leaves no record
    if author is None:
        return SignedIn(reader.username, list(reader.badges), AuthorStatus.ACTIVE.value, None)
    status = readers.current_status(author)
    until = author.status_until if status == AuthorStatus.SUSPENDED else None
    return SignedIn(reader.username, list(reader.badges), status.value, until)
