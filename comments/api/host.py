"""The host-site API: the host's own servers, with one of the site's API keys.

``Authorization: Bearer <key>``; a key works only for its own site (another site's → 403).
No CORS here: these calls come from servers, never from readers' browsers.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import orjson
from flask import Response, current_app, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from comments.api.host_schemas import (
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    ErasedSchema,
    ExportPageSchema,
    ExportQuerySchema,
    FeedbackDeletedSchema,
    FeedbackDeleteQuerySchema,
    KeyCreateSchema,
    KeyListSchema,
    NewKeySchema,
    NewWebhookSchema,
    PrivacyExportQuerySchema,
    PrivacyRequestSchema,
    SettingsChangeSchema,
    SettingsEnvelopeSchema,
    SsoSecretSchema,
    StreamQuerySchema,
    ThreadEnvelopeSchema,
    ThreadListQuerySchema,
    ThreadListSchema,
    ThreadPutSchema,
    WebhookChangeSchema,
    WebhookCreateSchema,
    WebhookEnvelopeSchema,
    WebhookListSchema,
)
from comments.api.hostauth import host_actor, require_host
from comments.extensions import db
from comments.models import Site
from comments.services import analysis, apikeys, hostapi, privacy, sso
from comments.services.errors import NotFound
from comments.services.hostjson import EXPORTED_COMMENT
from comments.services.sites import effective_settings, update_settings
from comments.services.validation import checked_thread_key
from comments.services.webhooks import outbox, registration
from comments.tasks import analyzer

blp = Blueprint(
    "host",
    __name__,
    url_prefix="/api/v1",
    description="For host sites' servers, with a site API key: threads, exports, settings, "
    "keys, webhooks and privacy requests.",
)


SECURITY_SCHEME = "siteApiKey"


@blp.before_request
def _authenticate_first() -> None:
    """The key is checked before anything else, so a caller without one learns nothing (not even
    whether its body would have been valid)."""
    site_slug = (request.view_args or {}).get("site_slug")
    if site_slug is not None:
        require_host(site_slug)


def route(rule: str):
    """``blp.route``, with every method documented as taking a site API key."""

    def decorator(view: type[MethodView]) -> type[MethodView]:
        for method in ("get", "post", "put", "patch", "delete"):
            func = view.__dict__.get(method)
            if func is not None:
                setattr(view, method, blp.doc(security=[{SECURITY_SCHEME: []}])(func))
        return blp.route(rule)(view)

    return decorator


def _filter(query: dict[str, Any]) -> hostapi.ExportFilter:
    return hostapi.ExportFilter(
        statuses=tuple(query["status"].split(",")) if query["status"] else (),
        since=query["since"],
        until=query["until"],
        changed_since=query["changed_since"],
        thread_key=checked_thread_key(query["thread"]) if query["thread"] else None,
    )


# --- keys -------------------------------------------------------------------------------------


@route("/sites/<site_slug>/keys")
class Keys(MethodView):
    @blp.response(200, KeyListSchema)
    def get(self, site_slug: str):
        """The site's API keys (prefixes only; the keys themselves are never shown again)."""
        site = require_host(site_slug)
        # Every list has next_cursor (the contract); a site's keys always fit one page.
        return {"keys": apikeys.list_keys(site), "next_cursor": None}

    @blp.arguments(KeyCreateSchema)
    @blp.response(201, NewKeySchema)
    def post(self, data: dict[str, Any], site_slug: str):
        """A new key, shown once: roll it out, then revoke the old one."""
        site = require_host(site_slug)
        row, key = apikeys.issue_key(site, data["label"], data["scopes"], host_actor())
        if row.has_scope(apikeys.ANALYZE_SCOPE):
            analyzer.preload()  # its first analyze call need not wait for the model (rq mode)
        return {"key": row, "api_key": key}


@route("/sites/<site_slug>/keys/<int:key_id>")
class KeyResource(MethodView):
    @blp.response(204)
    def delete(self, site_slug: str, key_id: int):
        """Revoke a key at once (not the site's last key with the host scope: 409)."""
        site = require_host(site_slug)
        apikeys.revoke_key(site, key_id, host_actor())
        return None


# --- threads ----------------------------------------------------------------------------------


@route("/sites/<site_slug>/threads")
class Threads(MethodView):
    @blp.arguments(ThreadListQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ThreadListSchema)
    def get(self, query: dict[str, Any], site_slug: str):
        """The site's threads, newest first, with comment counts per status."""
        site = require_host(site_slug)
        page = hostapi.list_threads(site, limit=query["limit"], cursor=query["cursor"], closed=query["closed"])
        return {"threads": page.items, "next_cursor": page.next_cursor}


@route("/sites/<site_slug>/threads/<hostthreadkey:key>")
class ThreadResource(MethodView):
    @blp.response(200, ThreadEnvelopeSchema)
    def get(self, site_slug: str, key: str):
        """One thread with its counts."""
        site = require_host(site_slug)
        thread = hostapi.get_thread(site, key)
        if thread is None:
            raise NotFound("thread_not_found", "No such thread.")
        return {"thread": hostapi.counted(thread)}

    @blp.arguments(ThreadPutSchema)
    @blp.response(200, ThreadEnvelopeSchema, description="Updated")
    @blp.alt_response(201, schema=ThreadEnvelopeSchema, description="Created")
    def put(self, data: dict[str, Any], site_slug: str, key: str):
        """Create the thread, or change its title, url or closed flag (fields left out keep their value).

        Closing a thread refuses new comments (403 `thread_closed`); it stays readable.
        """
        site = require_host(site_slug)
        thread, created = hostapi.put_thread(site, key, data, host_actor())
        return {"thread": hostapi.counted(thread)}, 201 if created else 200


# --- exports ----------------------------------------------------------------------------------


@route("/sites/<site_slug>/comments")
class Export(MethodView):
    @blp.arguments(ExportQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ExportPageSchema)
    def get(self, query: dict[str, Any], site_slug: str):
        """One page of the site's comments, oldest first, with status, scores and reasons."""
        site = require_host(site_slug)
        page = hostapi.export_page(site, _filter(query), limit=query["limit"], cursor=query["cursor"])
        return {"comments": page.items, "next_cursor": page.next_cursor}


@route("/sites/<site_slug>/comments/export")
class ExportStream(MethodView):
    @blp.arguments(StreamQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, description="`application/x-ndjson`: one comment (as in the JSON export) per line")
    def get(self, query: dict[str, Any], site_slug: str):
        """Every matching comment as NDJSON, streamed: read in batches, never all in memory."""
        site = require_host(site_slug)
        # Everything is checked here, before the first line: once streaming, only a broken stream is left.
        batches = hostapi.export_batches(
            site, _filter(query), cursor=query["cursor"], batch_size=current_app.config.get("EXPORT_BATCH_SIZE", 500)
        )

        def lines():
            for items in batches:
                yield b"".join(orjson.dumps(item) + b"\n" for item in EXPORTED_COMMENT.dump(items, many=True))
            db.session.remove()

        response = Response(stream_with_context(lines()), mimetype="application/x-ndjson")
        response.headers["Content-Disposition"] = f'attachment; filename="{site.slug}-comments.ndjson"'
        response.headers["Cache-Control"] = "no-store"
        return response


# --- settings ---------------------------------------------------------------------------------


def _settings_json(site: Site) -> dict[str, Any]:
    return {**effective_settings(site), "allowed_origins": list(site.allowed_origins or [])}


@route("/sites/<site_slug>/settings")
class Settings(MethodView):
    @blp.response(200, SettingsEnvelopeSchema)
    def get(self, site_slug: str):
        """The site's moderation settings (defaults filled in) and allowed origins."""
        return {"settings": _settings_json(require_host(site_slug))}

    @blp.arguments(SettingsChangeSchema)
    @blp.response(200, SettingsEnvelopeSchema)
    def patch(self, data: dict[str, Any], site_slug: str):
        """Change some settings; thresholds merge label by label. Every change is audited."""
        site = require_host(site_slug)
        update_settings(site, data, host_actor())
        return {"settings": _settings_json(site)}


# --- webhooks ---------------------------------------------------------------------------------


@route("/sites/<site_slug>/webhooks")
class Webhooks(MethodView):
    @blp.response(200, WebhookListSchema)
    def get(self, site_slug: str):
        """The site's webhooks (secrets are shown only when created)."""
        site = require_host(site_slug)
        return {
            "webhooks": [registration.webhook_view(w) for w in registration.list_webhooks(site)],
            "next_cursor": None,
        }

    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, NewWebhookSchema)
    def post(self, data: dict[str, Any], site_slug: str):
        """Register a URL for events. Deliveries are signed with the secret returned here, once.

        URLs that resolve to loopback, private or link-local addresses are refused (422
        `webhook_url_not_allowed`), here and again at every delivery.
        """
        site = require_host(site_slug)
        webhook, secret = registration.create_webhook(
            site, data["url"], data["events"], data["description"], host_actor()
        )
        return {"webhook": registration.webhook_view(webhook), "secret": secret}


@route("/sites/<site_slug>/webhooks/<int:webhook_id>")
class WebhookResource(MethodView):
    @blp.response(200, WebhookEnvelopeSchema)
    def get(self, site_slug: str, webhook_id: int):
        """One webhook."""
        return {"webhook": registration.webhook_view(registration.get_webhook(require_host(site_slug), webhook_id))}

    @blp.arguments(WebhookChangeSchema)
    @blp.response(200, WebhookEnvelopeSchema)
    def patch(self, data: dict[str, Any], site_slug: str, webhook_id: int):
        """Change the URL, events or description, or pause it (`"active": false`)."""
        site = require_host(site_slug)
        return {"webhook": registration.webhook_view(registration.change_webhook(site, webhook_id, data, host_actor()))}

    @blp.response(204)
    def delete(self, site_slug: str, webhook_id: int):
        """Remove the webhook and its delivery log."""
        registration.delete_webhook(require_host(site_slug), webhook_id, host_actor())
        return None


@route("/sites/<site_slug>/webhooks/<int:webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, DeliveryPageSchema)
    def get(self, query: dict[str, Any], site_slug: str, webhook_id: int):
        """The delivery log, newest first: every attempt's answer or error."""
        items, next_cursor = outbox.deliveries_page(
            require_host(site_slug), webhook_id, status=query["status"], limit=query["limit"], cursor=query["cursor"]
        )
        return {"deliveries": items, "next_cursor": next_cursor}


@route("/sites/<site_slug>/webhooks/<int:webhook_id>/secret")
class WebhookSecret(MethodView):
    @blp.response(200, NewWebhookSchema)
    def post(self, site_slug: str, webhook_id: int):
        """A new signing secret, shown once. For 24 hours deliveries carry both signatures
        (`v1=<new>,v1=<old>`), so the receiver can switch without refusing anything."""
        webhook, secret = registration.rotate_secret(require_host(site_slug), webhook_id, host_actor())
        return {"webhook": registration.webhook_view(webhook), "secret": secret}


@route("/sites/<site_slug>/webhooks/<int:webhook_id>/ping")
class Ping(MethodView):
    @blp.response(202, DeliverySchema)
    def post(self, site_slug: str, webhook_id: int):
        """Queue a `ping` delivery to this webhook, to check the receiver."""
        return outbox.delivery_view(outbox.ping(require_host(site_slug), webhook_id))


@route("/sites/<site_slug>/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/retry")
class Retry(MethodView):
    @blp.response(202, DeliverySchema)
    def post(self, site_slug: str, webhook_id: int, delivery_id: int):
        """Try a failed delivery again now, with a fresh set of attempts."""
        return outbox.delivery_view(outbox.retry(require_host(site_slug), webhook_id, delivery_id))


# --- privacy ----------------------------------------------------------------------------------


@route("/sites/<site_slug>/privacy/export")
class PrivacyExport(MethodView):
    @blp.arguments(PrivacyRequestSchema)
    @blp.arguments(PrivacyExportQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ExportPageSchema)
    def post(self, data: dict[str, Any], query: dict[str, Any], site_slug: str):
        """Every comment an author (by email, or by the host's SSO user id) wrote on this site,
        for an access request.

        POST, so the address stays out of URLs and logs. Paged like the export.
        """
        page = privacy.export_author(
            require_host(site_slug),
            email=data.get("email"),
            sso_user_id=data.get("sso_user_id"),
            limit=query["limit"],
            cursor=query["cursor"],
            actor=host_actor(),
        )
        return {"comments": page.items, "next_cursor": page.next_cursor}


@route("/sites/<site_slug>/privacy/erase")
class PrivacyErase(MethodView):
    @blp.arguments(PrivacyRequestSchema)
    @blp.response(200, ErasedSchema)
    def post(self, data: dict[str, Any], site_slug: str):
        """Erase an author (by email, or by the host's SSO user id): name, text and edit history
        go; a comment with replies stays as a tombstone, the others are deleted; their author
        records go. Audited; cannot be undone."""
        result = privacy.erase_author(
            require_host(site_slug), host_actor(), email=data.get("email"), sso_user_id=data.get("sso_user_id")
        )
        return {
            "erased": result.erased,
            "removed": result.removed,
            "tombstoned": result.tombstoned,
            "authors": result.authors,
        }


@route("/sites/<site_slug>/analysis-feedback")
class AnalysisFeedbackResource(MethodView):
    @blp.arguments(FeedbackDeleteQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, FeedbackDeletedSchema)
    def delete(self, query: dict[str, Any], site_slug: str):
        """Delete the scores Perspective clients suggested for this site (`comments:suggestscore`,
        kept with their texts): all of them, or those sent with `client_token` and/or
        `community_id`. Suggestions carry no author, so a privacy erase cannot find them: this is
        how they go before their retention (`COMMENTS_ANALYSIS_FEEDBACK_DAYS`). Audited."""
        removed = analysis.delete_feedback(
            require_host(site_slug),
            host_actor(),
            client_token=query.get("client_token"),
            community_id=query.get("community_id"),
        )
        return {"removed": removed}


# --- single sign-on ----------------------------------------------------------------------------


@route("/sites/<site_slug>/sso/secret")
class SsoSecretResource(MethodView):
    @blp.response(201, SsoSecretSchema, description="The site's first SSO secret")
    @blp.alt_response(200, schema=SsoSecretSchema, description="A new secret; the one it replaces works 24 hours more")
    def post(self, site_slug: str):
        """A new secret for signing readers' sign-in tokens (HS256), shown once.

        The secret it replaces keeps verifying tokens for 24 hours, so the host can switch without
        signing anyone out; one replaced earlier stops at once. Audited (`sso_secret_issued`).
        """
        site = require_host(site_slug)
        replacing = sso.has_secret(site)
        secret = sso.issue_secret(site, host_actor())
        return {"secret": secret}, 200 if replacing else 201


# --- the OpenAPI document -----------------------------------------------------------------------


def register_security_scheme(api) -> None:
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "One of the site's API keys (`cmk_…`); scope `host`, or `moderate` for the moderation API (`analyze` is for /v1alpha1/comments:analyze).",
        },
    )
