"""The moderation figures the stats page shows, kept up to date as the audit log is written.

Counting them from the audit log at read time cost a scan of every event of the period (the
period's traffic: 2 s at a million comments). Instead, ``follow`` runs in the same transaction as
every audit write (``services.audit`` calls it) and keeps two small tables:

* ``moderation_days``: per site and UTC day, comments held, approved and rejected;
* ``queue_waits``: per comment, its last moderator decision: when it entered the queue, when it
  was decided, and whether the decision was undone.

``replay`` is the one statement of the rules, shared by ``follow`` (one comment's earlier events
plus the new one) and ``rebuild`` (the whole log: the migration that made the tables, and the
benchmark loader):

* held: a comment moved to ``held`` by anything but a moderator or host, once per comment and day;
* approved / rejected: an ``approved`` or ``rejected`` event; a ``decision_undone`` takes the
  comment's last one back, on the day it was made; ``rejected`` also counts automatic rejections
  (to ``rejected`` by the system);
* the wait: from the first time the comment entered the queue (held, or queued by readers'
  reports) since its last counted decision, to a moderator's decision; an undo puts the comment
  back to waiting from its first arrival.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from comments.extensions import db
from comments.models import (
    DECIDERS,
    DECISION_ACTIONS,
    AuditEvent,
    ModerationDay,
    QueueWait,
    Status,
)

QUEUED_ACTIONS = ("queued_for_review",)  # reports put a published comment in front of moderators


@dataclass
class Replay:
    """One comment's figures after its events so far."""

    held_days: set[date] = field(default_factory=set)
    # (day, action) per counted decision; the last one is what an undo takes back.
    decisions: list[tuple[date, str]] = field(default_factory=list)
    last_decision: tuple[date, str] | None = None
    auto_rejected: list[date] = field(default_factory=list)
    undone: list[tuple[date, str]] = field(default_factory=list)
    entered: datetime | None = None
    # The last counted moderator decision: (entered, decided), or None; ``wait_undone`` after an undo.
    wait: tuple[datetime, datetime] | None = None
    wait_undone: bool = False


def replay(events: Iterable[Any], state: Replay | None = None) -> Replay:
    """Apply events (objects or rows with ``action``, ``actor_type``, ``to_status``, ``created_at``),
    oldest first, to one comment's figures."""
    state = state or Replay()
    for event in events:
        day = event.created_at.date()
        # The per-day figures.
        if event.to_status == Status.HELD and event.actor_type not in DECIDERS:
            state.held_days.add(day)
        elif event.action in DECISION_ACTIONS:
            state.decisions.append((day, event.action))
            state.last_decision = (day, event.action)
        elif event.action == "decision_undone" and state.last_decision is not None:
            state.undone.append(state.last_decision)
            state.last_decision = None
        elif event.to_status == Status.REJECTED and event.actor_type == "system":
            state.auto_rejected.append(day)
        # The wait before a moderator's decision.
        if event.actor_type not in DECIDERS and (event.to_status == Status.HELD or event.action in QUEUED_ACTIONS):
            if state.entered is None:
                state.entered = event.created_at
        elif event.action in DECISION_ACTIONS and event.actor_type in DECIDERS:
            if state.entered is not None:
                state.wait, state.wait_undone = (state.entered, event.created_at), False
                state.entered = None
        elif event.action == "decision_undone" and state.wait is not None and not state.wait_undone:
            state.entered, state.wait_undone = state.wait[0], True
    return state


@dataclass(frozen=True)
class AuditStep:
    """What the replays read of an audit event (a row read back, or one about to be written)."""

    action: str
    actor_type: str
    to_status: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> AuditStep:
        """From the fields of an audit row about to be written (``audit._fields`` plus ``created_at``)."""
        return cls(event["action"], event["actor_type"], event["to_status"], event["created_at"])


def _matters(event: dict[str, Any]) -> bool:
    return (
        event.get("comment_id") is not None
        and event.get("site_id") is not None
        and (
            event["to_status"] in (Status.HELD, Status.REJECTED)
            or event["action"] in DECISION_ACTIONS
            or event["action"] in QUEUED_ACTIONS
            or event["action"] == "decision_undone"
        )
    )


def earlier_events(comment_ids: Iterable[int]) -> dict[int, list[Any]]:
    """The comments' audit events so far (rows with ``action``, ``actor_type``, ``to_status``,
    ``created_at``), oldest first: one indexed read."""
    earlier: dict[int, list[Any]] = {comment_id: [] for comment_id in comment_ids}
    # no_autoflush: callers (the scoring batch) hold objects whose changes they write themselves.
    with db.session.no_autoflush:
        for row in db.session.execute(
            select(
                AuditEvent.comment_id,
                AuditEvent.action,
                AuditEvent.actor_type,
                AuditEvent.to_status,
                AuditEvent.created_at,
            )
            .where(AuditEvent.comment_id.in_(list(earlier)))
            .order_by(AuditEvent.id)
        ):
            earlier[row.comment_id].append(row)
    return earlier


def follow(events: Sequence[dict[str, Any]]) -> dict[int, list[Any]]:
    """Update the figures for audit rows about to be written (``audit._fields`` plus ``created_at``).

    Most events (a comment published, a report under the threshold) change nothing and cost
    nothing; for the others, one indexed read of their comments' earlier events, and one upsert
    per site and day whatever the number of comments (a scoring batch holds several at once).
    Returns the earlier events it read, by comment (``earlier_events``): the calibration's
    evidence replays the same (every decision and undo is among them).
    """
    relevant = [event for event in events if _matters(event)]
    if not relevant:
        return {}
    by_comment: dict[int, list[dict[str, Any]]] = {}
    for event in relevant:
        by_comment.setdefault(event["comment_id"], []).append(event)
    earlier = earlier_events(by_comment)
    deltas: dict[tuple[int, date], dict[str, int]] = {}

    def add(site_id: int, day: date, figure: str, delta: int) -> None:
        deltas.setdefault((site_id, day), {"held": 0, "approved": 0, "rejected": 0})[figure] += delta

    for comment_id, new in by_comment.items():
        before = replay(earlier[comment_id])
        snapshot = (
            set(before.held_days),
            len(before.decisions),
            len(before.undone),
            len(before.auto_rejected),
            before.wait,
            before.wait_undone,
        )
        after = replay([AuditStep.of(e) for e in new], before)
        site_id = new[0]["site_id"]
        for day in after.held_days - snapshot[0]:
            add(site_id, day, "held", 1)
        for day, action in after.decisions[snapshot[1] :]:
            add(site_id, day, action, 1)
        for day, action in after.undone[snapshot[2] :]:
            add(site_id, day, action, -1)
        for day in after.auto_rejected[snapshot[3] :]:
            add(site_id, day, "rejected", 1)
        if (after.wait, after.wait_undone) != snapshot[4:] and after.wait is not None:
            _put_wait(comment_id, site_id, after.wait, after.wait_undone)
    for (site_id, day), figures in sorted(deltas.items()):  # a fixed order: no lock-order deadlocks
        _add_to_day(site_id, day, figures)
    return earlier


def _dialect_insert(model: Any) -> postgresql.Insert | sqlite.Insert:
    name = db.session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(model)


def _add_to_day(site_id: int, day: date, figures: dict[str, int]) -> None:
    # An upsert that adds: concurrent decisions on the same day never lose a count.
    statement = _dialect_insert(ModerationDay).values(site_id=site_id, day=day, **figures)
    table = ModerationDay.__table__
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.site_id, table.c.day],
        set_={name: table.c[name] + statement.excluded[name] for name in figures},
    )
    db.session.execute(statement)


def _put_wait(comment_id: int, site_id: int, wait: tuple[datetime, datetime], undone: bool) -> None:
    entered, decided = wait
    values = {
        "site_id": site_id,
        "entered_at": entered,
        "decided_at": decided,
        "seconds": (decided - entered).total_seconds(),
        "undone": undone,
    }
    statement = _dialect_insert(QueueWait).values(comment_id=comment_id, **values)
    db.session.execute(statement.on_conflict_do_update(index_elements=[QueueWait.__table__.c.comment_id], set_=values))


# --- the whole log ------------------------------------------------------------------------------------


def rebuild(connection: Connection, batch: int = 20_000) -> tuple[int, int]:
    """Fill the (empty) tables from the whole audit log: the migration's backfill, the loader's.
    Returns (day rows, wait rows). Reads the log once, in comment order, without holding it all."""
    audit = AuditEvent.__table__
    # yield_per on the statement, not the connection: the migration's later statements must not
    # inherit a server-side cursor.
    rows = connection.execute(
        select(
            audit.c.comment_id,
            audit.c.site_id,
            audit.c.action,
            audit.c.actor_type,
            audit.c.to_status,
            audit.c.created_at,
        )
        .where(audit.c.comment_id.is_not(None), audit.c.site_id.is_not(None))
        .order_by(audit.c.comment_id, audit.c.id)
        .execution_options(yield_per=batch)
    )
    days: dict[tuple[int, date], dict[str, int]] = {}
    waits: list[dict[str, Any]] = []

    def finish(comment_id: int, site_id: int, events: list[AuditStep]) -> None:
        state = replay(events)
        counts = [(day, "held", 1) for day in state.held_days]
        counts += [(day, action, 1) for day, action in state.decisions]
        counts += [(day, action, -1) for day, action in state.undone]
        counts += [(day, "rejected", 1) for day in state.auto_rejected]
        for day, figure, delta in counts:
            days.setdefault((site_id, day), {"held": 0, "approved": 0, "rejected": 0})[figure] += delta
        if state.wait is not None:
            entered, decided = state.wait
            waits.append(
                {
                    "comment_id": comment_id,
                    "site_id": site_id,
                    "entered_at": entered,
                    "decided_at": decided,
                    "seconds": (decided - entered).total_seconds(),
                    "undone": state.wait_undone,
                }
            )

    current: tuple[int, int] | None = None
    events: list[AuditStep] = []
    for row in rows:
        if current is not None and row.comment_id != current[0]:
            finish(*current, events)
            events = []
        current = (row.comment_id, row.site_id)
        created = row.created_at if isinstance(row.created_at, datetime) else datetime.fromisoformat(row.created_at)
        events.append(AuditStep(row.action, row.actor_type, row.to_status, created))
    if current is not None:
        finish(*current, events)
    day_rows = [{"site_id": site_id, "day": day, **figures} for (site_id, day), figures in sorted(days.items())]
    for start in range(0, len(day_rows), batch):
        connection.execute(ModerationDay.__table__.insert(), day_rows[start : start + batch])
    for start in range(0, len(waits), batch):
        connection.execute(QueueWait.__table__.insert(), waits[start : start + batch])
    return len(day_rows), len(waits)
