"""Single sign-on from the host site: its secrets, and the tokens it signs for its readers.

The host signs an HS256 JWT with Coral Talk's claims (``user.id``, ``user.username``, ...) under
the site's SSO secret. Secrets are stored encrypted with a key from the environment
(``SSO_ENCRYPTION_KEY``), so a copy of the database alone cannot sign tokens; a replaced secret
keeps verifying tokens for ``ROTATION_OVERLAP``, so the host can switch without signing anyone out.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from comments.extensions import db
from comments.models import RevokedToken, Site, SsoSecret, utcnow
from comments.security import keyed_hash
from comments.services.audit import Actor, record
from comments.services.errors import Unauthorized
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


def _cipher() -> MultiFernet:
    keys = [k.strip() for k in str(current_app.config["SSO_ENCRYPTION_KEY"]).split(",") if k.strip()]
    # Any text makes a key: it is stretched to Fernet's 32 bytes, so an operator can set a passphrase.
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys])


def _seal(secret: str) -> str:
    return _cipher().encrypt(secret.encode()).decode()


def _open(ciphertext: str) -> str | None:
    try:
        return _cipher().decrypt(ciphertext.encode()).decode()
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
    return secret


def _secrets(site: Site) -> list[str]:
    """The secrets that verify tokens now: the current one first, then any replaced lately."""
    rows = db.session.scalars(
        select(SsoSecret)
        .where(
            SsoSecret.site_id == site.id,
            or_(SsoSecret.retired_at.is_(None), SsoSecret.retired_at >= utcnow() - ROTATION_OVERLAP),
        )
        .order_by(SsoSecret.retired_at.is_not(None), SsoSecret.id.desc())
    ).all()
    return [s for s in (_open(row.ciphertext) for row in rows) if s is not None]


def has_secret(site: Site) -> bool:
    return bool(_secrets(site))


# --- tokens -----------------------------------------------------------------------------------


def _claims(token: str, site: Site) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise invalid("it is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise invalid(f"it must be signed with {ALGORITHM}")
    candidates = _secrets(site)
    if not candidates:
        raise invalid("this site has no SSO secret")
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
    raise invalid("its signature does not match this site's secret")


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
    badges = user.get("badges") or []
    if not isinstance(badges, list) or len(badges) > MAX_BADGES:
        raise invalid(f"user.badges must be a list of at most {MAX_BADGES} strings")
    if any(isinstance(b, bool) or not isinstance(b, str) for b in badges):
        raise invalid("user.badges must hold strings")
    clean_badges = tuple(dict.fromkeys(b for b in (_short_text(b, "a badge", BADGE_MAX) for b in badges) if b))
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


def verify_token(site: Site, token: str) -> Reader:
    """The reader a token signs in, or ``Unauthorized("invalid_token")`` saying what is wrong."""
    if not token or len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
        raise invalid(f"it must be 1–{MAX_TOKEN_BYTES} bytes")
    reader = _reader(_claims(token.strip(), site))
    if reader.jti is not None and _is_revoked(site, reader.jti):
        raise invalid("its reader signed out")
    return reader


def _jti_hash(jti: str) -> str:
    return keyed_hash("sso-jti", jti)


def _is_revoked(site: Site, jti: str) -> bool:
    found = db.session.execute(
        select(RevokedToken.id).where(RevokedToken.site_id == site.id, RevokedToken.jti_hash == _jti_hash(jti))
    ).first()
    return found is not None


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
