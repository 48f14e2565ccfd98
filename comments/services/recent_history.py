"""Recent history (Coral Talk's rule): an author most of whose recent decided comments were
rejected goes on pre-moderation, so a moderator sees their next comments before readers do.

A comment is *decided* when a decision put it where it is:

- ``rejected``, by anyone: the site's rules, the classifier, a moderator or a host's key;
- ``published``, by the policy (when posted, or when the classifier scored it) or by a person.
  A comment published only because the classifier was down and the site's failure policy says
  "publish" (``needs_scoring`` still set) is not decided yet: nothing looked at it.

Not decided: ``pending`` and ``held`` (no decision yet) and ``deleted`` (withdrawn by its author,
or erased: their outcome says nothing about the author). A decision's time is ``decided_at`` (a
person's), else ``scored_at`` (the classifier's), else ``created_at`` (the rules', at posting).

The rule: after a comment of the author is decided (a person approves or rejects it, the
classifier or the rules reject it), look at the author's last ``recent_history_count`` decided
comments (newest first by id; 0 turns the rule off). With at least ``MIN_DECIDED`` of them and a
rejected share at or over ``recent_history_threshold``, an author whose status is ``active`` goes
to ``premod`` (``readers.set_status``, actor system ``recent_history``, audited with the numbers).

It never overrides a moderator: it moves only ``active`` authors, and only decisions made after
the author's last status change count (``Author.status_changed_at``; of those, the most
recently decided first), so an author a moderator set back to active is not premoderated again
by the rejections they already weighed. (Any status
change resets the window; the only automatic one is this rule's own, to premod.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Select, and_, bindparam, not_, select

from comments.extensions import db
from comments.models import DECIDED_AT_KEY, Author, AuthorStatus, Comment, Status, UTCDateTime
from comments.services import readers
from comments.services.audit import Actor
from comments.services.sites import effective_settings

# Fewer decided comments than this say too little: two rejections of two comments are not a pattern.
MIN_DECIDED: Final = 3
ACTOR: Final = Actor("system", "recent_history")
# The audit reason's code; spelt out again where ``check`` writes it (the vocabulary test reads it there).
CODE: Final = "recent_history"

DECIDED_STATUSES: Final = (Status.PUBLISHED.value, Status.REJECTED.value)


def _statement(*, since: bool) -> Select[str]:
    """Built once (building costs more than running it): the statuses of the author's last
    ``:count`` decided comments, newest first; with ``since``, those decided after ``:since``,
    the most recently decided first."""
    query = select(Comment.status).where(
        Comment.author_id == bindparam("author_id"),
        Comment.status.in_(DECIDED_STATUSES),
        # published only for want of the classifier: not decided yet
        not_(and_(Comment.status == Status.PUBLISHED.value, Comment.needs_scoring.is_(True))),
    )
    if not since:
        return query.order_by(Comment.id.desc()).limit(bindparam("count"))
    # When it was decided: a person's decision, else the classifier's, else the rules' at posting;
    # the literal DECIDED_AT_KEY, so that both engines match ix_comments_author_decided to it.
    decided_when = DECIDED_AT_KEY
    return (
        query.where(decided_when > bindparam("since", type_=UTCDateTime))
        .order_by(decided_when.desc(), Comment.id.desc())
        .limit(bindparam("count"))
    )


_LAST_DECIDED = _statement(since=False)
_LAST_DECIDED_SINCE = _statement(since=True)


@dataclass(frozen=True)
class RecentHistory:
    """The author's last decided comments (at most the site's count): how many, how many rejected."""

    decided: int
    rejected: int
    count: int  # the site's window
    threshold: float

    @property
    def share(self) -> float:
        return self.rejected / self.decided if self.decided else 0.0

    @property
    def reached(self) -> bool:
        return self.count > 0 and self.decided >= MIN_DECIDED and self.share >= self.threshold


def recent_history(author: Author) -> RecentHistory:
    """One query: the statuses of the author's last N decided comments, newest first.

    It walks ``ix_comments_author_id`` (author_id, id) backwards and stops after N decided rows:
    its cost is the author's comments since their Nth-last decision, not all of them. After a
    status change it walks ``ix_comments_author_decided`` (author_id, decision time) backwards
    from now and stops at the change (or after N decided rows): a decision since the change may
    be on an old comment, so the id order cannot bound it, but the decision time does; its cost
    is the decisions since the change, however many comments the author posted before it.
    """
    settings = effective_settings(author.site)
    count = int(settings["recent_history_count"])
    threshold = float(settings["recent_history_threshold"])
    if count <= 0:
        return RecentHistory(0, 0, count, threshold)
    if author.status_changed_at is None:
        found = db.session.scalars(_LAST_DECIDED, {"author_id": author.id, "count": count})
    else:
        parameters = {"author_id": author.id, "count": count, "since": author.status_changed_at}
        found = db.session.scalars(_LAST_DECIDED_SINCE, parameters)
    statuses = list(found)
    rejected = sum(1 for status in statuses if status == Status.REJECTED)
    return RecentHistory(len(statuses), rejected, count, threshold)


def check(author: Author, comment: Comment | None = None) -> bool:
    """Put an active author on premod when their recent history reaches the site's threshold;
    True when it did. ``comment``: the decision that led here, for the audit log."""
    if readers.current_status(author) != AuthorStatus.ACTIVE:
        return False  # a moderator's (or this rule's earlier) decision stands
    history = recent_history(author)
    if not history.reached:
        return False
    reason = (
        f"{history.rejected} of the author's last {history.decided} decided comments were rejected"
        f" ({history.share:.0%}; the site premoderates from {history.threshold:.0%}"
        f" of the last {history.count}, at least {MIN_DECIDED} decided)"
    )
    readers.set_status(author, AuthorStatus.PREMOD, ACTOR, reason=reason, comment=comment, code="recent_history")
    return True


def after_decisions(comments: Iterable[Comment]) -> int:
    """Run the rule once for each author among these just-decided comments; how many went on premod."""
    firsts: dict[int, Comment] = {}
    for comment in comments:
        if comment.author_id is not None:
            firsts.setdefault(comment.author_id, comment)
    premodded = 0
    for author_id in sorted(firsts):  # a fixed order: concurrent batches lock authors alike
        author = db.session.get(Author, author_id)
        if author is not None and check(author, firsts[author_id]):
            premodded += 1
    return premodded


def after_decision(comment: Comment) -> bool:
    """The rule after one comment's decision."""
    return after_decisions([comment]) == 1
