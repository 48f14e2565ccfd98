"""Moderator accounts. Passwords are kept only as argon2 hashes."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from sqlalchemy import func, select

from comments.extensions import db
from comments.models import Moderator
from comments.services.audit import Actor, record

MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

password_hasher = PasswordHasher()


class AccountError(ValueError):
    pass


def create_moderator(email: str, password: str, site_slugs: list[str] | None = None,
                     actor: Actor = Actor("operator")) -> Moderator:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    taken = db.session.execute(select(Moderator).where(func.lower(Moderator.email) == email)).scalar()
    if taken is not None:
        raise AccountError(f"A moderator {email} exists already.")
    moderator = Moderator(email=email, password_hash=password_hasher.hash(password),
                          site_slugs=sorted(set(site_slugs or [])))
    db.session.add(moderator)
    db.session.flush()
    record("moderator_created", actor, reasons=[{"kind": "account", "moderator_id": moderator.id,
                                                  "sites": moderator.site_slugs}])
    return moderator
