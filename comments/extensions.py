"""Unbound extensions; ``create_app`` binds them to an application."""

from __future__ import annotations

import flask_limiter
from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from comments.api.errors import ContractApi
from comments.net import rate_limit_key

# Constraint names are fixed so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, with Redis outages reported (``comments.redis_health``).

    ``create_app`` turns on Flask-Limiter's in-memory fallback: when the storage (Redis) fails, it
    counts in this process's memory and looks at Redis again after 1, 2, 4 ... 32 seconds. Its
    state is one private flag (``_storage_dead``, Flask-Limiter 4.1), read here, so that the
    outage and the recovery each make one warning and move the metrics. Read with ``getattr``: if
    a release renames it, limits still fall back and requests still work, only unreported
    (tests/api/test_redis_down.py would say so).
    """

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        was_down = getattr(self, "_storage_dead", False)
        try:
            super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)
        finally:
            down = getattr(self, "_storage_dead", False)
            if down != was_down:
                self._report(down)

    def storage_failed(self, error: BaseException) -> bool:
        """A direct use of ``self.limiter`` failed (``comments.api.hostauth``): count in memory
        from now on, as the decorated limits do. False when there is no fallback to go to."""
        if not getattr(self, "_in_memory_fallback_enabled", False) or not hasattr(self, "_storage_dead"):
            return False
        if not self._storage_dead:
            self._storage_dead = True
            self._report(True, error)
        return True

    def _report(self, down: bool, error: BaseException | None = None) -> None:
        from limits.storage import MemoryStorage

        if isinstance(self._storage, MemoryStorage):
            return  # no Redis: what failed was something else (the key function's database lookup)
        health = current_app.extensions["comments.redis"]
        if down:
            health.failed("rate_limits", error)
        else:
            health.worked("rate_limits")


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = ContractApi()
limiter = Limiter(key_func=rate_limit_key)
