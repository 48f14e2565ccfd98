"""Moderator accounts. Passwords are kept only as argon2 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from comments.extensions import db
from comments.models import LoginFailure, Moderator, ModeratorToken, utcnow
from comments.security import hash_ip
from comments.services.audit import Actor, record
from comments.services.errors import ServiceError
from comments.services.validation import unstorable_strings

MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

password_hasher = PasswordHasher()


class AccountError(ValueError):
    pass


class Unauthorized(ServiceError):
    kind = "unauthorized"  # 401


class TooManyAttempts(ServiceError):
    kind = "rate_limited"  # 429

    def __init__(self, retry_after: int):
        super().__init__("too_many_attempts", "Too many failed logins; try again later.")
        self.retry_after = retry_after


def create_moderator(
    email: str, password: str, site_slugs: list[str] | None = None, actor: Actor = Actor("operator")
) -> Moderator:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    taken = db.session.execute(select(Moderator).where(func.lower(Moderator.email) == email)).scalar()
    if taken is not None:
        raise AccountError(f"A moderator {email} exists already.")
    moderator = Moderator(
        email=email, password_hash=password_hasher.hash(password), site_slugs=sorted(set(site_slugs or []))
    )
    db.session.add(moderator)
    db.session.flush()
    record(
        "moderator_created",
        actor,
        reasons=[{"kind": "account", "moderator_id": moderator.id, "sites": moderator.site_slugs}],
    )
    return moderator


# --- logging in -------------------------------------------------------------------------------

# Wrong passwords for one account from one client address before that address is locked out of
# it; an account-wide limit, much higher, stops guessing spread over many addresses. A lock per
# address alone means whoever knows a moderator's email can lock out only themselves.
MAX_FAILED_LOGINS = 5
MAX_FAILED_LOGINS_ACCOUNT = 50
LOCKOUT = timedelta(minutes=15)
TOKEN_LIFETIME = timedelta(hours=12)

# Verifying against this when the email is unknown keeps both failures equally slow.
_DUMMY_HASH = password_hasher.hash("not a real password, only for timing")


@dataclass(frozen=True)
class Session:
    moderator: Moderator
    token: str
    expires_at: datetime


def login(
    email: str, password: str, token_lifetime: timedelta = TOKEN_LIFETIME, *, client_ip: str | None = None
) -> Session:
    """A new bearer token, or a uniform error that tells nothing about which part was wrong.

    A wrong password is counted (flushed) before the error: the caller commits it even though it
    answers with the error, or guessing would never lock anything.
    """
    refused = Unauthorized("invalid_credentials", "The email or password is not right.")
    if unstorable_strings([email, password]):
        raise refused  # NUL or a lone surrogate: no account has it (and the database would choke)
    moderator = db.session.execute(
        select(Moderator).where(func.lower(Moderator.email) == email.strip().lower())
    ).scalar()
    now = utcnow()
    failures: LoginFailure | None = None
    if moderator is not None:
        address_key = hash_ip(client_ip or "unknown")
        failures = db.session.execute(
            select(LoginFailure).where(
                LoginFailure.moderator_id == moderator.id, LoginFailure.address_key == address_key
            )
        ).scalar()
        if failures is None:
            failures = LoginFailure(moderator_id=moderator.id, address_key=address_key, failures=0)
        if any(until is not None and until > now for until in (moderator.locked_until, failures.locked_until)):
            # The same answer as a wrong password: a distinct one would tell who has an account.
            # (Guessing is also limited per address, COMMENTS_RATELIMIT_LOGIN.)
            raise refused
    try:
        password_hasher.verify(moderator.password_hash if moderator else _DUMMY_HASH, password)
        ok = moderator is not None and moderator.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok:
        if moderator is not None:
            assert failures is not None  # found or made above, for any moderator found
            try:
                # A savepoint, flushed now: the caller commits the count before answering 401.
                with db.session.begin_nested():
                    _count_failure(moderator, failures, now)
            except IntegrityError:
                # Two wrong passwords from one address at once, both the first: the other one
                # stored the count. This one's answer is the same.
                pass
        raise refused
    assert moderator is not None and failures is not None  # ok: an active moderator was found
    moderator.failed_logins = 0
    moderator.locked_until = None
    if failures.id is not None:
        db.session.delete(failures)
    if password_hasher.check_needs_rehash(moderator.password_hash):
        moderator.password_hash = password_hasher.hash(password)
    token = secrets.token_urlsafe(32)
    expires_at = now + token_lifetime
    db.session.add(ModeratorToken(moderator_id=moderator.id, token_hash=_token_hash(token), expires_at=expires_at))
    return Session(moderator, token, expires_at)


def _count_failure(moderator: Moderator, failures: LoginFailure, now: datetime) -> None:
    failures.failures += 1
    failures.last_failure_at = now
    db.session.add(failures)
    if failures.failures >= MAX_FAILED_LOGINS:
        failures.locked_until = now + LOCKOUT
        failures.failures = 0
        record(
            "login_locked",
            Actor("system", "login"),
            reasons=[
                {
                    "kind": "account",
                    "moderator_id": moderator.id,
                    "scope": "address",
                    "address": failures.address_key[:16],
                }
            ],
        )
    moderator.failed_logins += 1
    if moderator.failed_logins >= MAX_FAILED_LOGINS_ACCOUNT:
        moderator.locked_until = now + LOCKOUT
        moderator.failed_logins = 0
        record(
            "login_locked",
            Actor("system", "login"),
            reasons=[{"kind": "account", "moderator_id": moderator.id, "scope": "account"}],
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def moderator_for_token(token: str) -> Moderator | None:
    row = db.session.execute(select(ModeratorToken).where(ModeratorToken.token_hash == _token_hash(token))).scalar()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    moderator = row.moderator
    return moderator if moderator.active else None


def revoke_token(token: str) -> None:
    row = db.session.execute(select(ModeratorToken).where(ModeratorToken.token_hash == _token_hash(token))).scalar()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
