"""The unit of work: services change and flush, the owner of the work commits once.

The owner is the request (every view of the API, the dashboard and the widget runs inside
``unit_of_work``: ``init_app`` wraps them), the CLI command (``with unit_of_work():``) or the
worker job (a scoring batch, one webhook delivery). A service never commits; when something must
happen only once its changes are committed (hand a comment to the scorer, wake the webhook
outbox), it registers the step with ``after_commit`` and the owner's commit runs it. A rollback
drops the steps, so a failed request enqueues nothing.

The one deliberate exception a view may make is ``commit()`` before raising, for a record that
must outlive the error answer (a failed login counted against its address).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from comments.extensions import db

_AFTER_COMMIT = "comments.after_commit"
# Set on a database connection when it runs anything but a SELECT inside its transaction.
_WROTE = "comments.wrote"

ViewFunction = TypeVar("ViewFunction", bound=Callable[..., Any])


def after_commit(step: Callable[[], None]) -> None:
    """Run ``step`` once the current transaction has committed; never if it rolls back.

    The step runs outside any transaction and must not use the session (it enqueues ids, wakes a
    thread): what it needs it takes as arguments, read before the commit.
    """
    db.session.info.setdefault(_AFTER_COMMIT, []).append(step)


def commit() -> None:
    """Commit the current unit of work now and run its after-commit steps (the owner's call)."""
    db.session.commit()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit when the block ends normally, roll back when it raises (CLI commands, jobs).

    A unit of work that wrote nothing is not committed: the session's teardown ends its read
    transaction, as it did before every view became a unit of work (a COMMIT on every cached
    thread read cost about 0.1 ms of CPU, bench/README.md)."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    if _has_work():
        commit()


def _has_work() -> bool:
    """Whether committing would change anything: a change waiting in the session, a step waiting
    for the commit, or a statement other than a SELECT run in the transaction (ORM flushes,
    Core UPDATEs, driver SQL: all go through the engine's cursor, which ``_note_writes`` sees)."""
    if not db.session.registry.has():
        return False  # the block never used the session
    session = db.session()
    if session.info.get(_AFTER_COMMIT) or session.new or session.dirty or session.deleted:
        return True
    if not session.in_transaction():
        return False
    return bool(session.connection().info.get(_WROTE))


def transactional(view: ViewFunction) -> ViewFunction:
    """``view`` as one unit of work: committed when it returns, rolled back when it raises.

    The commit happens inside the view function Flask calls (after flask-smorest has dumped the
    answer, while the objects are still loaded), so a conflict at commit time (StaleDataError,
    IntegrityError) reaches the error handlers like any other error.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work():
            return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def init_app(app: Flask, blueprints: tuple[str, ...]) -> None:
    """Make every view of these blueprints (by name) a unit of work: one place, not a decorator
    each view could forget. Called after the blueprints are registered."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.partition(".")[0] in blueprints:
            app.view_functions[endpoint] = transactional(view)


@event.listens_for(Session, "after_commit")
def _run_after_commit_steps(session: Session) -> None:
    steps = session.info.pop(_AFTER_COMMIT, None)
    for step in steps or ():
        step()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit_steps(session: Session, previous_transaction: Any) -> None:
    # Only the outermost rollback drops them: a savepoint rolled back inside the unit of work
    # (a duplicate caught and answered) leaves the rest of the work, and its steps, standing.
    if previous_transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(
    connection: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    # Anything but a plain SELECT counts as a write (SAVEPOINT, a CTE, PRAGMA included): a
    # needless commit costs little, a missed one would lose the work.
    if not connection.info.get(_WROTE) and statement.lstrip()[:6].upper() != "SELECT":
        connection.info[_WROTE] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _forget_writes(connection: Connection) -> None:
    connection.info.pop(_WROTE, None)


@event.listens_for(Pool, "reset")
def _forget_writes_on_return(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    # The pool ends a transaction left open (the teardown of a read) without the engine's events.
    connection_record.info.pop(_WROTE, None)


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_inside_the_unit_of_work(connection: Connection, name: str | None) -> None:
    # SQLite's driver opens its transaction only before the first INSERT/UPDATE/DELETE. A
    # savepoint taken before that (the first write of a request is often one: a new thread, a
    # report) would itself be the transaction, and releasing it would commit it: the work after
    # it would no longer roll back with the unit of work. So the transaction is opened first.
    if connection.dialect.name == "sqlite":
        driver_connection = connection.connection.driver_connection
        if driver_connection is not None and not driver_connection.in_transaction:
            driver_connection.execute("BEGIN")
