"""Single sign-on from the host site: its secrets, and the tokens it signs for its readers.

The host signs an HS256 JWT with Coral Talk's claims (``user.id``, ``user.username``, ...) under
the site's SSO secret. Secrets are stored encrypted with a key from the environment
(``SSO_ENCRYPTION_KEY``), so a copy of the database alone cannot sign tokens; a replaced secret
keeps verifying tokens for ``ROTATION_OVERLAP``, so the host can switch without signing anyone out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.exc import IntegrityError

from comments.extensions import db
from comments.models import RevokedToken, Site, SsoSecret, utcnow
from comments.security import keyed_hash
from comments.services.audit import Actor, record
from comments.services.errors import Unauthorized
from comments.services.sites import effective_settings
from comments.services.statements import rows_changed
from comments.services.validation import AUTHOR_NAME_MAX, is_one_clean_line

ALGORITHM = "HS256"  # the only one: no "none", no public-key algorithm a secret could be confused with
MAX_TOKEN_BYTES = 8 * 1024
LEEWAY = timedelta(seconds=60)  # clock skew between the host and us
MAX_AGE = timedelta(days=30)  # issued longer ago, or expiring further ahead: refused
ROTATION_OVERLAP = timedelta(hours=24)
USER_ID_MAX = 255
MAX_BADGES = 10
BADGE_MAX = 32
ROLE_MAX = 64
URL_MAX = 2000
JTI_MAX = 255


@dataclass(frozen=True)
class Reader:
    """A signed-in reader, as the host's token says."""

    user_id: str
    username: str
    email: str | None
    badges: tuple[str, ...]
    role: str | None
    url: str | None
    jti: str | None
    issued_at: datetime | None
    expires_at: datetime  # the token's exp, or iat + MAX_AGE when it has none


def invalid(why: str) -> Unauthorized:
    return Unauthorized("invalid_token", f"The sign-in token is not valid: {why}.")


# --- secrets ----------------------------------------------------------------------------------


def _keys() -> str:
    return str(current_app.config["SSO_ENCRYPTION_KEY"])


@functools.lru_cache(maxsize=8)
def _cipher(keys: str) -> MultiFernet:
    # Any text makes a key: it is stretched to Fernet's 32 bytes, so an operator can set a passphrase.
    texts = [k.strip() for k in keys.split(",") if k.strip()]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in texts])


def _seal(secret: str) -> str:
    return _cipher(_keys()).encrypt(secret.encode()).decode()


@functools.lru_cache(maxsize=1024)
def _decrypted(keys: str, ciphertext: str) -> str | None:
    # Kept per (keys, ciphertext): every signed-in request reads the site's secrets, and decrypting
    # them each time was a third of a token's check. Another key list is another entry, so a
    # process given other keys still cannot read a row it could not decrypt.
    try:
        return _cipher(keys).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        # Encrypted under a key this process no longer has: as if there were no such secret.
        current_app.logger.warning("an SSO secret cannot be decrypted with SSO_ENCRYPTION_KEY")
        return None


def issue_secret(site: Site, actor: Actor) -> str:
    """A new secret for the site, returned once; the one it replaces works for 24 hours more."""
    now = utcnow()
    db.session.execute(
        delete(SsoSecret).where(SsoSecret.site_id == site.id, SsoSecret.retired_at < now - ROTATION_OVERLAP)
    )
    for current in db.session.scalars(
        select(SsoSecret).where(SsoSecret.site_id == site.id, SsoSecret.retired_at.is_(None))
    ):
        current.retired_at = now
    secret = "sso_" + secrets.token_urlsafe(32)
    db.session.add(SsoSecret(site_id=site.id, ciphertext=_seal(secret), created_at=now))
    record("sso_secret_issued", actor, site_id=site.id)
    db.session.flush()
    forget_secrets()  # this process uses the new one at once (others read it at their first token)
    return secret


# Built once, as the thread lookup is: every signed-in request runs both, and building the
# statements cost more than running them.
_LIVE_SECRETS = (
    select(SsoSecret.ciphertext, SsoSecret.retired_at)
    .where(
        SsoSecret.site_id == bindparam("site_id"),
        or_(SsoSecret.retired_at.is_(None), SsoSecret.retired_at >= bindparam("retired_since")),
    )
    .order_by(SsoSecret.retired_at.is_not(None), SsoSecret.id.desc())
)
_REVOKED = select(RevokedToken.id).where(
    RevokedToken.site_id == bindparam("site_id"), RevokedToken.jti_hash == bindparam("jti_hash")
)

# How long a process keeps a site's secrets before reading them again. Reading them on every
# signed-in request was most of what signing in added to a post (bench/README, "Readers'
# identity"). Nothing is accepted that should not be: a new secret is read at once (a token that
# no kept secret verifies reads them again), a replaced one's 24 hours are counted from its
# ``retired_at`` here, and a replacement made by another process only starts that count up to
# this much later, well inside the 24 hours the old secret works anyway.
SECRETS_TTL_SECONDS = 30.0
_CACHE = "comments.sso_secrets"


def _stored_secrets(site: Site) -> list[tuple[str, datetime | None]]:
    rows = db.session.execute(_LIVE_SECRETS, {"site_id": site.id, "retired_since": utcnow() - ROTATION_OVERLAP})
    keys = _keys()
    return [(secret, retired) for ciphertext, retired in rows if (secret := _decrypted(keys, ciphertext)) is not None]


def _secrets(site: Site, *, fresh: bool = False) -> list[str]:
    """The secrets that verify tokens now: the current one first, then any replaced lately.
    ``fresh``: read from the database, not this process's copy."""
    cache: dict[tuple[str, int], tuple[float, list[tuple[str, datetime | None]]]]
    cache = current_app.extensions.setdefault(_CACHE, {})
    key = (_keys(), site.id)  # other encryption keys read other secrets (or none)
    kept = cache.get(key)
    if fresh or kept is None or kept[0] <= time.monotonic():
        kept = (time.monotonic() + SECRETS_TTL_SECONDS, _stored_secrets(site))
        cache[key] = kept
    since = utcnow() - ROTATION_OVERLAP
    return [secret for secret, retired in kept[1] if retired is None or retired >= since]


def forget_secrets() -> None:
    """Drop this process's copy of every site's secrets (after changing them, or the rows behind
    the service's back): the next token reads them again."""
    current_app.extensions.pop(_CACHE, None)


def has_secret(site: Site) -> bool:
    return bool(_secrets(site, fresh=True))


# --- tokens -----------------------------------------------------------------------------------


def _claims(token: str, site: Site) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise invalid("it is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise invalid(f"it must be signed with {ALGORITHM}")
    claims = _verified(token, _secrets(site))
    if claims is None:
        # None of the kept secrets signed it: perhaps one issued since, by another process.
        claims = _verified(token, _secrets(site, fresh=True))
    if claims is None:
        if not _secrets(site):
            raise invalid("this site has no SSO secret")
        raise invalid("its signature does not match this site's secret")
    return claims


def _verified(token: str, candidates: list[str]) -> dict[str, Any] | None:
    """The token's claims under the first of ``candidates`` that signed it; None if none did."""
    for secret in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                leeway=LEEWAY,
                # Coral's tokens carry no audience; one that does is not checked against anything.
                options={"verify_aud": False, "verify_iss": False},
            )
            return claims
        except jwt.InvalidSignatureError:
            continue  # another of the site's secrets may have signed it
        except jwt.ExpiredSignatureError:
            raise invalid("it has expired") from None
        except jwt.ImmatureSignatureError:
            raise invalid("it is not valid yet") from None
        except jwt.PyJWTError as exc:
            raise invalid(f"its claims are malformed ({exc})") from None
    return None


def _moment(claims: dict[str, Any], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number of seconds")
    try:
        return datetime.fromtimestamp(value, tz=utcnow().tzinfo)
    except (OverflowError, OSError, ValueError):
        raise invalid(f"{name} is out of range") from None


def _short_text(value: Any, what: str, maximum: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid(f"{what} must be a string")
    text = str(value).strip()
    if not text or len(text) > maximum:
        raise invalid(f"{what} must be 1–{maximum} characters")
    if not is_one_clean_line(text):
        raise invalid(f"{what} must not contain control characters")
    return text


def _reader(claims: dict[str, Any]) -> Reader:
    now = utcnow()
    issued_at = _moment(claims, "iat")
    expires_at = _moment(claims, "exp")
    if issued_at is None and expires_at is None:
        raise invalid("it has neither exp nor iat")
    if issued_at is not None and issued_at < now - MAX_AGE:
        raise invalid("it was issued more than 30 days ago")
    if expires_at is not None and expires_at > now + MAX_AGE + LEEWAY:
        raise invalid("it expires more than 30 days ahead")
    user = claims.get("user")
    if not isinstance(user, dict):
        raise invalid("it has no user object")
    user_id = _short_text(user.get("id"), "user.id", USER_ID_MAX, required=True)
    username = _short_text(user.get("username"), "user.username", AUTHOR_NAME_MAX, required=True)
    assert user_id is not None and username is not None  # required=True
    email = user.get("email")
    if email is not None and (not isinstance(email, str) or len(email) > 254):
        raise invalid("user.email must be a string of at most 254 characters")
    badges = user.get("badges")
    if badges is None:
        badges = []
    # Anything else that is not a list (a string, an object, false) is refused, not read as none:
    # the host's code is wrong, and its readers would lose their badges without anyone noticing.
    if not isinstance(badges, list) or len(badges) > MAX_BADGES:
        raise invalid(f"user.badges must be a list of at most {MAX_BADGES} strings")
    if any(isinstance(b, bool) or not isinstance(b, str) for b in badges):
        raise invalid("user.badges must hold strings")
    # required=True: an empty badge is refused, so the filter only tells the type checker so.
    clean_badges = tuple(
        dict.fromkeys(b for b in (_short_text(b, "a badge", BADGE_MAX, required=True) for b in badges) if b)
    )
    url = _short_text(user.get("url"), "user.url", URL_MAX)
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise invalid("user.url must be an http or https URL")
    jti = _short_text(claims.get("jti"), "jti", JTI_MAX)
    return Reader(
        user_id=user_id,
        username=username,
        email=(email.strip() or None) if isinstance(email, str) else None,
        badges=clean_badges,
        role=_short_text(user.get("role"), "user.role", ROLE_MAX),
        url=url,
        jti=jti,
        issued_at=issued_at,
        expires_at=expires_at or (issued_at or now) + MAX_AGE,
    )


def verify_token(site: Site, token: str, *, revoked_ok: bool = False) -> Reader:
    """The reader a token signs in, or ``Unauthorized("invalid_token")`` saying what is wrong.

    ``revoked_ok``: a signed-out token is still read (signing out twice is not an error)."""
    token = token.strip()
    if not token or len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
        raise invalid(f"it must be 1–{MAX_TOKEN_BYTES} bytes")
    if token.count(".") != 2:
        raise invalid("a JWT has three parts separated by dots")
    reader = _reader(_claims(token, site))
    if not revoked_ok and reader.jti is not None and _is_revoked(site, reader.jti):
        raise invalid("its reader signed out")
    return reader


def require_sign_in(site: Site, reader: Reader | None, doing: str) -> None:
    """On a site whose identity is ``sso``, only signed-in readers post and report (401
    ``sign_in_required``); ``anonymous`` and ``both`` sites take anyone, and a token when sent."""
    if reader is None and effective_settings(site)["identity"] == "sso":
        raise Unauthorized("sign_in_required", f"Sign in to {doing} on this site.")


def _jti_hash(jti: str) -> str:
    return keyed_hash("sso-jti", jti)


def _is_revoked(site: Site, jti: str) -> bool:
    return db.session.execute(_REVOKED, {"site_id": site.id, "jti_hash": _jti_hash(jti)}).first() is not None


def revoke(site: Site, reader: Reader) -> bool:
    """Sign the reader's token out (refused from now until it expires); False when it has no jti."""
    if reader.jti is None:
        return False
    try:
        with db.session.begin_nested():  # signed out twice at once: the second finds the first
            db.session.add(RevokedToken(site_id=site.id, jti_hash=_jti_hash(reader.jti), expires_at=reader.expires_at))
    except IntegrityError:
        pass
    return True


def purge_revoked(now: datetime | None = None) -> int:
    """Forget revoked tokens that have expired anyway (with the leeway they are refused either way)."""
    cutoff = (now or utcnow()) - LEEWAY
    return rows_changed(delete(RevokedToken).where(RevokedToken.expires_at < cutoff))
