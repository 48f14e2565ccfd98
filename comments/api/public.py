"""The public API the widget calls: no login, CORS limited to each site's allowed origins."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
import orjson
from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.orm.exc import StaleDataError

from comments.api import cors
from comments.api.limits import post_limit, preview_limit, read_limit, report_limit
from comments.api.lookup import comment_site, require_site
from comments.api.schemas import (
    CommentCreateSchema,
    CommentEditSchema,
    CommentEnvelopeSchema,
    CountsQuerySchema,
    CountsSchema,
    IdentitySchema,
    PostedCommentSchema,
    PreviewCreateSchema,
    PreviewSchema,
    RepliesPageSchema,
    RepliesQuerySchema,
    ReportCreateSchema,
    ReportReceivedSchema,
    ThreadPageSchema,
    ThreadQuerySchema,
)
from comments.api.signin import OPTIONAL, REQUIRED, required_reader, signed_in_reader
from comments.extensions import db
from comments.limiting import client_ip
from comments.models import Comment, Thread
from comments.security import make_edit_token
from comments.services import authors, rendering, reports, sso, submission, threads
from comments.services.errors import invalid_field
from comments.services.sites import effective_settings
from comments.services.validation import checked_thread_key

blp = Blueprint(
    "public",
    __name__,
    url_prefix="/api/v1",
    description="Reading and writing comments: what the embeddable widget calls.",
)

cors.protect(blp)

MAX_COUNT_KEYS = 100


def scoring() -> submission.Scoring | None:
    return current_app.extensions.get("comments.scoring")


def _page_etag(kind: str, what: str, thread: Thread | None, params: str) -> str:
    """A page's ETag: what it shows, the thread's revision (bumped by every change readers see)
    and the page's parameters."""
    # created_at too: a thread deleted and created again (or a restored database) may reuse an id.
    revision = "none" if thread is None else f"{thread.id}.{thread.revision}.{thread.created_at.timestamp()}"
    return kind + hashlib.blake2b(f"{what}|{revision}|{params}".encode(), digest_size=12).hexdigest()


def _conditional_page(etag: str, read: Callable[[], Any], cacheable: bool) -> Response:
    """304 for the ETag the reader already has; else the page, from the page cache when there."""
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        cache = current_app.extensions.get("comments.page_cache")
        body = cache.get(etag) if cache is not None else None
        if body is None:
            body = orjson.dumps(read())
            if cache is not None and cacheable:
                cache.put(etag, body)
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    # Readers must revalidate (cheap: a 304) so new comments show at once.
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.route("/sites/<site_slug>/threads/<threadkey:key>/comments")
class ThreadComments(MethodView):
    decorators = [read_limit(methods=["GET"]), post_limit(methods=["POST"])]

    @blp.arguments(ThreadQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ThreadPageSchema)
    @blp.alt_response(304, description="Not modified since the ETag sent in If-None-Match")
    def get(self, query: dict[str, Any], site_slug: str, key: str):
        """One page of root comments, each with its published replies nested.

        Answers conditional requests: send the ETag back as If-None-Match to get 304.
        """
        site = require_site(site_slug)
        key = checked_thread_key(key)
        limit = query["limit"] or current_app.config["DEFAULT_PAGE_SIZE"]
        thread = threads.find_thread(site, key)
        etag = _page_etag("t", f"{site.id}|{key}", thread, f"{query['sort']}|{limit}|{query['cursor'] or ''}")
        return _conditional_page(
            etag,
            lambda: threads.read_page(site, key, thread, query["sort"], limit, query["cursor"]).as_json(),
            cacheable=thread is not None,
        )

    @blp.arguments(CommentCreateSchema)
    @blp.response(201, PostedCommentSchema, description="Published at once")
    @blp.alt_response(
        202, schema=PostedCommentSchema, description="Stored, but pending scoring, held for review or rejected"
    )
    @blp.doc(security=OPTIONAL)
    def post(self, data: dict[str, Any], site_slug: str, key: str):
        """Post a comment or a reply (with parent_id).

        With the host's sign-in token (`Authorization: Bearer`), the name and badges come from the
        token (`author_name` and `author_email` are ignored). 401 `sign_in_required` on a site whose
        identity is `sso` without one, 401 `invalid_token` for a bad one, 403 `author_banned` /
        `author_suspended` (`fields.until`) for a signed-in author moderators stopped.
        """
        site = require_site(site_slug)
        new = submission.NewComment(client_ip=client_ip(), reader=signed_in_reader(site), **data)
        result = submission.submit(site, checked_thread_key(key), new, scoring())
        comment = authors.AuthorsCopy(result.comment, authors.author_note(result.status), result.editable_until)
        body = {"comment": comment, "edit_token": make_edit_token(result.comment_id, result.edit_token_nonce)}
        return body, 201 if result.published else 202


Done = TypeVar("Done")


def _again_if_changed_meanwhile(change: Callable[[], Done]) -> Done:
    """Run a reader's change to a comment; when another writer (the scorer deciding it, a
    moderator) changed the comment between this request's read and its write, read it again and
    run the change once more on what is stored now: the reader's request is not lost to a race
    they cannot see, and it is checked again against the new state (a rejection refuses an edit).
    A second conflict goes to the API's StaleDataError handler (409 ``changed_meanwhile``).
    """
    try:
        return change()
    except StaleDataError:
        db.session.rollback()
    return change()


@blp.route("/comments/<int:comment_id>")
class CommentResource(MethodView):
    decorators = [read_limit(methods=["GET"]), post_limit(methods=["PATCH", "DELETE"])]

    @blp.response(200, CommentEnvelopeSchema)
    @blp.doc(security=OPTIONAL)
    def get(self, comment_id: int):
        """One comment. Its author (with X-Edit-Token, or signed in as the reader who posted it)
        also sees it while pending or held."""
        comment = comment_site(comment_id)
        reader = signed_in_reader(comment.site)
        comment, is_author = authors.view(comment, request.headers.get("X-Edit-Token"), reader)
        return {"comment": authors.authors_copy(comment) if is_author else comment}

    @blp.arguments(CommentEditSchema)
    @blp.response(200, CommentEnvelopeSchema)
    @blp.doc(security=OPTIONAL)
    def patch(self, data: dict[str, Any], comment_id: int):
        """Edit within the site's edit window (X-Edit-Token, or the sign-in token of the reader who
        posted it). The new text is scored again."""
        # Read once: a token is the same token when the change is run again after a race.
        reader = signed_in_reader(comment_site(comment_id).site)

        def edit() -> Comment:
            comment = comment_site(comment_id)
            authors.edit(comment, request.headers.get("X-Edit-Token"), data["body"], scoring(), reader)
            return comment

        return {"comment": authors.authors_copy(_again_if_changed_meanwhile(edit))}

    @blp.response(204)
    @blp.doc(security=OPTIONAL)
    def delete(self, comment_id: int):
        """Delete (X-Edit-Token, or the sign-in token of the reader who posted it) within the edit
        window; with replies it stays as a tombstone."""
        reader = signed_in_reader(comment_site(comment_id).site)
        _again_if_changed_meanwhile(
            lambda: authors.remove(comment_site(comment_id), request.headers.get("X-Edit-Token"), reader)
        )
        return None


@blp.route("/comments/<int:comment_id>/replies")
class CommentReplies(MethodView):
    decorators = [read_limit(methods=["GET"])]

    @blp.arguments(RepliesQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, RepliesPageSchema)
    @blp.alt_response(304, description="Not modified since the ETag sent in If-None-Match")
    def get(self, query: dict[str, Any], comment_id: int):
        """The replies of one comment, a page at a time, each with its first replies nested.

        Thread reads carry only the first replies of each comment; a comment with more has
        `replies_next_cursor`, which this call takes as `cursor`. Only what readers see: a
        comment that is not shown in its thread (held, pending, rejected, or under one that is)
        is 404. Answers conditional requests as thread reads do.
        """
        comment = comment_site(comment_id)
        threads.check_shown_to_readers(comment)
        limit = query["limit"] or threads.REPLY_PAGE_DEFAULT
        etag = _page_etag("r", f"{comment.site_id}|{comment.id}", comment.thread, f"{limit}|{query['cursor'] or ''}")
        return _conditional_page(
            etag, lambda: threads.read_replies(comment, limit, query["cursor"]).as_json(), cacheable=True
        )


@blp.route("/comments/<int:comment_id>/reports")
class CommentReports(MethodView):
    decorators = [report_limit(methods=["POST"])]

    @blp.arguments(ReportCreateSchema)
    @blp.response(202, ReportReceivedSchema, description="Received")
    @blp.doc(security=OPTIONAL)
    def post(self, data: dict[str, Any], comment_id: int):
        """Report a comment. Enough distinct readers send it to the review queue.

        A signed-in reader (`Authorization: Bearer`) counts once per comment wherever they report
        from; on a site whose identity is `sso`, only they may report (else 401 `sign_in_required`).
        A signed-in reader moderators banned or suspended gets the post path's 403 `author_banned` /
        `author_suspended` (`fields.until`).
        """
        reader = signed_in_reader(comment_site(comment_id).site)
        _again_if_changed_meanwhile(
            lambda: reports.report(comment_site(comment_id), data["reason"], data["note"], client_ip(), reader)
        )
        return {"report": {"comment_id": comment_id, "reason": data["reason"]}}


@blp.route("/sites/<site_slug>/counts")
class Counts(MethodView):
    decorators = [read_limit(methods=["GET"])]

    @blp.arguments(CountsQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, CountsSchema)
    def get(self, query: dict[str, Any], site_slug: str):
        """Published comments per thread, for many threads in one call."""
        site = require_site(site_slug)
        keys = list(dict.fromkeys(k for k in query["keys"].split(",") if k))
        if len(keys) > MAX_COUNT_KEYS:
            raise invalid_field("keys", "too_many_keys", f"At most {MAX_COUNT_KEYS} keys per request.")
        for key in keys:
            checked_thread_key(key)
        return {"counts": threads.counts(site, keys)}


@blp.route("/sites/<site_slug>/identity")
class Identity(MethodView):
    decorators = [read_limit(methods=["GET"])]

    @blp.response(200, IdentitySchema)
    @blp.doc(security=OPTIONAL)
    def get(self, site_slug: str):
        """How readers comment on the site (`identity`, `sso_login_url`) and, with a sign-in token,
        who the reader is: the token's name and badges, and their status on this site.

        A bad token is 401 `invalid_token`, with the reason: the widget then signs the reader out.
        """
        site = require_site(site_slug)
        reader = signed_in_reader(site)
        settings = effective_settings(site)
        body = {
            "identity": settings["identity"],
            "sso_login_url": settings["sso_login_url"],
            "reader": authors.signed_in(site, reader) if reader is not None else None,
        }
        # The answer depends on the token: no shared cache may keep one reader's for another.
        return body, 200, {"Cache-Control": "private, no-store", "Vary": "Authorization"}


@blp.route("/sites/<site_slug>/sso/logout")
class SignOut(MethodView):
    # The reading budget, not posting's: a reader who has just posted can still sign out, and each
    # call needs a valid token of the site anyway.
    decorators = [read_limit(methods=["POST"])]

    @blp.response(204)
    @blp.doc(security=REQUIRED)
    def post(self, site_slug: str):
        """Sign the reader out: the token's `jti` is refused from now on (a token without `jti`:
        204, nothing to refuse). Signing out twice is not an error; a bad token is 401 `invalid_token`.
        """
        site = require_site(site_slug)
        sso.revoke(site, required_reader(site, revoked_ok=True))
        return None


@blp.route("/sites/<site_slug>/preview")
class Preview(MethodView):
    decorators = [preview_limit(methods=["POST"])]

    @blp.arguments(PreviewCreateSchema)
    @blp.response(200, PreviewSchema)
    def post(self, data: dict[str, Any], site_slug: str):
        """Extension: the sanitised HTML a body would get, for the widget's preview.

        The same validation as a post and the same renderer as stored comments; nothing is stored.
        """
        require_site(site_slug)
        return {"body_html": rendering.render(data["body"])}
