"""A site's API keys: issued once, stored as a hash with a visible prefix, scoped, revocable.

A site may hold several active keys at once, so a host can roll a new key out before revoking
the old one.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import select

from comments.extensions import db
from comments.models import ApiKey, Site, utcnow
from comments.security import API_KEY_PREFIX, hash_api_key, new_api_key
from comments.services.audit import Actor, record
from comments.services.errors import Conflict, NotFound, invalid_field

# host: the host-site API; moderate: the moderation API (this site only); analyze: the
# Perspective-compatible analysis (comments.perspective), for clients of Google's Perspective API.
ANALYZE_SCOPE = "analyze"
SCOPES = ("host", "moderate", ANALYZE_SCOPE)
DEFAULT_SCOPES = ("host",)
# last_used_at is a hint for operators, not an audit trail: write it at most once a minute per key.
_TOUCH_EVERY = timedelta(seconds=60)


def normalise_scopes(scopes: list[str] | tuple[str, ...] | None) -> str:
    chosen = list(dict.fromkeys(scopes or DEFAULT_SCOPES))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise invalid_field("scopes", "invalid_scope", f"Scopes are some of: {', '.join(SCOPES)}.")
    return " ".join(sorted(chosen))


def issue_key(
    site: Site, label: str = "", scopes: list[str] | tuple[str, ...] | None = None, actor: Actor = Actor("operator")
) -> tuple[ApiKey, str]:
    """A new key for ``site``: the row and the key itself, which is never stored or shown again."""
    key, prefix, key_hash = new_api_key()
    row = ApiKey(prefix=prefix, key_hash=key_hash, label=label, scopes=normalise_scopes(scopes))
    site.api_keys.append(row)
    db.session.flush()
    record(
        "api_key_created",
        actor,
        site_id=site.id,
        reasons=[{"kind": "api_key", "key_id": row.id, "prefix": prefix, "label": label, "scopes": row.scope_list}],
    )
    return row, key


def list_keys(site: Site) -> list[ApiKey]:
    return list(db.session.execute(select(ApiKey).where(ApiKey.site_id == site.id).order_by(ApiKey.id)).scalars())


def revoke_key(site: Site, key_id: int, actor: Actor = Actor("operator")) -> ApiKey:
    """Revoke one key. The last active key with the ``host`` scope stays: a host must not lock
    itself out (an operator can still rotate from the command line)."""
    row = db.session.get(ApiKey, key_id)
    if row is None or row.site_id != site.id:
        raise NotFound("api_key_not_found", "No such API key for this site.")
    if row.revoked_at is not None:
        return row
    others = [k for k in list_keys(site) if k.id != row.id and k.revoked_at is None and k.has_scope("host")]
    if row.has_scope("host") and not others:
        raise Conflict(
            "last_host_key", "This is the site's last key with the host scope; create a new key before revoking it."
        )
    row.revoked_at = utcnow()
    record(
        "api_key_revoked", actor, site_id=site.id, reasons=[{"kind": "api_key", "key_id": row.id, "prefix": row.prefix}]
    )
    return row


def find_key(raw_key: str) -> ApiKey | None:
    """The active key ``raw_key`` is, or None. Keys are looked up by their SHA-256 (a unique
    index), then compared in constant time."""
    if not raw_key.startswith(API_KEY_PREFIX) or len(raw_key) > 200:
        return None
    computed = hash_api_key(raw_key)
    row = db.session.execute(select(ApiKey).where(ApiKey.key_hash == computed)).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, computed) or row.revoked_at is not None:
        return None
    return row


def scope_in_use(scope: str) -> bool:
    """Whether any active key, of any site, has ``scope`` (an rq-mode web process loads the model
    at start only when some key may call analyze)."""
    candidates = db.session.execute(
        select(ApiKey.scopes).where(ApiKey.revoked_at.is_(None), ApiKey.scopes.contains(scope))
    ).scalars()
    return any(scope in scopes.split() for scopes in candidates)


def touch(row: ApiKey) -> None:
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now  # committed with the request's unit of work
