"""The moderation API: tokens, the review queue, decisions, the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from comments import moderator_session, transaction
from comments.api.auth import require_moderator
from comments.api.hostauth import bearer_token
from comments.api.schemas import (
    AuditPageSchema,
    AuditQuerySchema,
    AuthorEnvelopeSchema,
    AuthorPageSchema,
    AuthorQuerySchema,
    AuthorStatusChangeSchema,
    BanSchema,
    DecidedSchema,
    DecisionSchema,
    LoginSchema,
    QueuePageSchema,
    QueueQuerySchema,
    SpotCheckAnsweredSchema,
    SpotCheckAnswerSchema,
    TokenSchema,
)
from comments.limiting import client_ip, limiter
from comments.models import AuthorStatus
from comments.services import accounts
from comments.services.review import audit_log, authors, decisions, queue, spot_checks
from comments.services.review.access import get_comment
from comments.services.threads import rfc3339

blp = Blueprint(
    "moderation",
    __name__,
    url_prefix="/api/v1",
    description="For moderators: the review queue, decisions and the audit log.",
)


@blp.before_request
def _authenticate_first() -> None:
    # Who is asking comes before what they sent: without credentials the answer is 401, whatever
    # the body holds (the arguments are parsed after this).
    if request.path.startswith("/api/v1/moderation/"):
        require_moderator()


@blp.route("/auth/token")
class Token(MethodView):
    decorators = [limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"], scope="login")]

    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    def post(self, data: dict[str, Any]):
        """Exchange a moderator's email and password for a bearer token."""
        lifetime = timedelta(hours=current_app.config["MODERATOR_TOKEN_HOURS"])
        try:
            session = accounts.login(data["email"], data["password"], lifetime, client_ip=client_ip())
        except accounts.Unauthorized:
            # The failed attempt must outlive the 401 (it counts towards locking the account and
            # the address): committed deliberately before the unit of work rolls back.
            transaction.commit()
            raise
        return {"token": session.token, "expires_at": rfc3339(session.expires_at)}

    @blp.response(204)
    def delete(self):
        """Revoke the token sent in the Authorization header (or end the dashboard session)."""
        require_moderator()
        token = bearer_token()
        if token:
            accounts.revoke_token(token)
        else:
            moderator_session.end()
        return None


@blp.route("/moderation/queue")
class Queue(MethodView):
    @blp.arguments(QueueQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, QueuePageSchema)
    def get(self, query: dict[str, Any]):
        """One page of a review queue, with every reason each item is there."""
        page = queue.list_queue(
            require_moderator(),
            query["queue"],
            site_slug=query["site"],
            reason=query["reason"],
            author_id=query["author"],
            sort=query["sort"],
            limit=query["limit"],
            cursor=query["cursor"],
        )
        return {"items": page.items, "next_cursor": page.next_cursor}


@blp.route("/moderation/comments/<int:comment_id>/decision")
class Decision(MethodView):
    @blp.arguments(DecisionSchema)
    @blp.response(200, DecidedSchema)
    @blp.alt_response(409, description="Someone else decided first; `current` says who and what")
    def post(self, data: dict[str, Any], comment_id: int):
        """Approve or reject a comment (optionally banning its author)."""
        comment = decisions.decide(
            require_moderator(),
            comment_id,
            data["action"],
            reason=data["reason"],
            expected_version=data["expected_version"],
            ban_author=data["ban_author"],
        )
        return {"comment": queue.moderator_view(comment)}


@blp.route("/moderation/comments/<int:comment_id>/undo")
class Undo(MethodView):
    @blp.response(200, DecidedSchema)
    @blp.alt_response(
        409,
        description="Nothing to undo: another change came after the decision, another "
        "moderator decided, or the undo window has passed",
    )
    def post(self, comment_id: int):
        """Undo your own last decision on a comment within a short window: it goes back where it was."""
        comment = decisions.undo_decision(require_moderator(), comment_id)
        return {"comment": queue.moderator_view(comment)}


@blp.route("/moderation/comments/<int:comment_id>/spot-check")
class SpotCheckAnswer(MethodView):
    @blp.arguments(SpotCheckAnswerSchema)
    @blp.response(200, SpotCheckAnsweredSchema)
    @blp.alt_response(404, description="`spot_check_not_found`: the comment was not drawn for a spot check")
    @blp.alt_response(
        409,
        description="`already_answered`: someone answered first (`current` says what); "
        "`not_decidable`: the comment is no longer published",
    )
    def post(self, data: dict[str, Any], comment_id: int):
        """Answer a spot check of a comment the machine published: fine, or should have been held
        (with `remove`, rejected at once, as a moderator's decision)."""
        reviewer = require_moderator()
        check = spot_checks.answer(reviewer, comment_id, data["verdict"], remove=data["remove"], reason=data["reason"])
        comment = get_comment(reviewer, comment_id)
        return {"spot_check": spot_checks.view(check), "comment": queue.moderator_view(comment)}


@blp.route("/moderation/comments/<int:comment_id>/ban")
class BanAuthor(MethodView):
    @blp.arguments(BanSchema)
    @blp.response(204)
    def post(self, data: dict[str, Any], comment_id: int):
        """Ban this comment's author on its site: their next comments are held."""
        decisions.ban_author(require_moderator(), comment_id, data["reason"])
        return None


@blp.route("/moderation/authors/<author_id>")
class AuthorPage(MethodView):
    @blp.arguments(AuthorQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuthorPageSchema)
    @blp.alt_response(404, description="`author_not_found`: no such author on the sites you moderate")
    def get(self, query: dict[str, Any], author_id: str):
        """An author: their record, counts per status, names, and their comments, newest first."""
        page = authors.author_page(require_moderator(), author_id, limit=query["limit"], cursor=query["cursor"])
        return {"author": page.author, "comments": page.comments, "next_cursor": page.next_cursor}


@blp.route("/moderation/authors/<author_id>/status")
class AuthorStatusChange(MethodView):
    @blp.arguments(AuthorStatusChangeSchema)
    @blp.response(200, AuthorEnvelopeSchema)
    @blp.alt_response(404, description="`author_not_found`: no such author on the sites you moderate")
    def post(self, data: dict[str, Any], author_id: str):
        """Set an author's status (active, premod, suspended until a time, banned); audited."""
        author = authors.change_status(
            require_moderator(), author_id, AuthorStatus(data["status"]), until=data["until"], reason=data["reason"]
        )
        return {"author": author}


@blp.route("/moderation/audit")
class Audit(MethodView):
    @blp.arguments(AuditQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditPageSchema)
    def get(self, query: dict[str, Any]):
        """The append-only history, newest first."""
        events, next_cursor = audit_log.audit_events(
            require_moderator(),
            comment_id=query["comment_id"],
            site_slug=query["site"],
            author_id=query["author_id"],
            limit=query["limit"],
            cursor=query["cursor"],
        )
        return {"events": events, "next_cursor": next_cursor}
