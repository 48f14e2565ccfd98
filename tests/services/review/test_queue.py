"""The review queues: which queue a comment is in, the records an item is, counts, pages and the thread view."""

from __future__ import annotations

import dataclasses

import pytest

from comments.models import Comment, Status, utcnow
from comments.services.review import decisions, queue
from comments.services.review.queue import (
    ModeratorComment,
    QueueItem,
    QueueReport,
    QueueThread,
    moderator_view,
    queue_of,
)
from tests.helpers import make_comment, set_settings


@pytest.mark.parametrize(
    "status, reported, decided, queue",
    [
        (Status.HELD, False, False, "held"),
        (Status.REJECTED, False, True, "rejected"),
        (Status.PUBLISHED, True, False, "reported"),
        (Status.PUBLISHED, True, True, "reported"),  # reported again after an approval: back in front of people
        (Status.PUBLISHED, False, True, "approved"),
        (Status.PUBLISHED, False, False, None),  # published by the machine: in no queue
        (Status.PENDING, False, False, None),
        (Status.DELETED, False, True, None),
    ],
)
def test_queue_of(status, reported, decided, queue):
    comment = Comment(
        status=status, reported_at=utcnow() if reported else None, decided_at=utcnow() if decided else None
    )
    assert queue_of(comment) == queue


def test_a_queue_item_has_the_fields_of_the_api_contract():
    from comments.api.schemas import QueueItemSchema

    item = QueueItem(
        queue="held",
        comment={"id": 1},
        thread=QueueThread("news", "a-1", "A", None),
        parent=None,
        reasons=[{"kind": "rule", "code": "suspect_word"}],
        reports=[QueueReport("spam", None, "2026-01-01T00:00:00Z")],
        arrived_at="2026-01-01T00:00:00Z",
    )
    assert {f.name for f in dataclasses.fields(QueueItem)} == set(QueueItemSchema().fields)
    dumped = QueueItemSchema().dump(item)
    assert dumped["thread"] == {"site": "news", "key": "a-1", "title": "A", "url": None}
    assert dumped["reports"] == [{"reason": "spam", "note": None, "created_at": "2026-01-01T00:00:00Z"}]
    assert dumped["queue"] == "held" and dumped["arrived_at"] == "2026-01-01T00:00:00Z"


def test_the_moderator_view_is_a_record_the_api_schema_dumps_as_the_contract_says():
    from datetime import UTC, datetime

    from comments.api.schemas import ModeratorCommentSchema

    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    comment = Comment(
        id=7,
        parent_id=None,
        author_name="Ann",
        body="gone",
        body_html="<p>gone</p>",
        status=Status.DELETED.value,
        created_at=moment,
        edited_at=None,
        reply_count=1,
        version=3,
        scores={"toxicity": 0.5},
        model_name="m-1",
        scored_at=moment,
        report_count=0,
        decided_at=None,
        author_key="k" * 64,
        author_badges=["staff"],
        author_verified=True,
    )
    view = moderator_view(comment)
    assert isinstance(view, ModeratorComment)
    assert (view.author_name, view.body) == ("Ann", "gone")  # the dashboard shows moderators a tombstone's text
    assert ModeratorCommentSchema().dump(view) == {
        "id": 7,
        "parent_id": None,
        "author_name": None,
        "body": None,
        "body_html": None,
        "status": "deleted",
        "created_at": "2026-01-02T03:04:05.678Z",
        "edited_at": None,
        "reply_count": 1,
        "replies": [],
        "version": 3,
        "scores": {"toxicity": 0.5},
        "model": "m-1",
        "scored_at": "2026-01-02T03:04:05.678Z",
        "report_count": 0,
        "decided_at": None,
        "author_key": "k" * 16,
        "author_badges": [],  # blanked on a tombstone, as for readers
        "author_verified": False,
        "author": None,  # no author record (erased), and a tombstone besides
    }


def test_queue_counts_follow_the_filters(db, moderator, site, waiting):
    set_settings(site, premoderation="all", suspect_words=["crypto"])
    make_comment(site, "crypto again", ip="192.0.2.50")
    decisions.decide(moderator, waiting[0].id, "approve")
    decisions.decide(moderator, waiting[1].id, "reject")
    assert queue.queue_counts(moderator) == {"held": 2, "reported": 0, "rejected": 1, "approved": 1, "spot-check": 0}
    assert queue.queue_counts(moderator, reason="suspect_word")["held"] == 1
    assert queue.queue_counts(moderator, site_slug="news")["held"] == 2


def test_the_thread_view_pages_through_every_comment_once(db, site, moderator):
    root = make_comment(site, "first root", ip="192.0.2.40")
    reply = make_comment(site, "a reply", parent_id=root.id, ip="192.0.2.41")
    set_settings(site, premoderation="all")
    others = [make_comment(site, f"later {i}", ip=f"192.0.2.{50 + i}") for i in range(3)]
    deep = make_comment(site, "a late reply", parent_id=reply.id, ip="192.0.2.60")
    seen, cursor = [], None
    for _ in range(5):  # bounded: at most 5 pages of 2
        view = queue.thread_comments(moderator, "news", "article-1", limit=2, cursor=cursor)
        seen.extend((row["comment"].id, row["depth"]) for row in view.rows)
        cursor = view.next_cursor
        if cursor is None:
            break
    assert seen == [(root.id, 0), (reply.id, 1), *((c.id, 0) for c in others), (deep.id, 2)]


def test_the_queues_by_score_keep_unscored_comments_last(db, site, moderator):
    set_settings(site, premoderation="all")
    unscored = make_comment(site, "never scored", ip="192.0.2.70")
    low = make_comment(site, "scored low", scores={"toxicity": 0.8}, ip="192.0.2.71")
    high = make_comment(site, "scored high", scores={"toxicity": 0.95}, ip="192.0.2.72")
    first = queue.list_queue(moderator, "held", sort="score", limit=2)
    rest = queue.list_queue(moderator, "held", sort="score", limit=2, cursor=first.next_cursor)
    assert [i.comment.id for i in first.items + rest.items] == [high.id, low.id, unscored.id]


def test_the_author_filter_keeps_one_authors_comments_in_each_queue(db, site, moderator):
    set_settings(site, premoderation="all")
    ann = [make_comment(site, f"ann {i}", author="Ann", ip="192.0.2.80") for i in range(3)]
    bob = make_comment(site, "bob's", author="Bob", ip="192.0.2.81")
    assert ann[0].author_id is not None and ann[0].author_id == ann[2].author_id != bob.author_id
    decisions.decide(moderator, ann[1].id, "reject")
    held = queue.list_queue(moderator, "held", author_id=ann[0].author_id)
    assert [i.comment.id for i in held.items] == [ann[0].id, ann[2].id]
    first = queue.list_queue(moderator, "held", author_id=ann[0].author_id, sort="newest", limit=1)
    rest = queue.list_queue(moderator, "held", author_id=ann[0].author_id, sort="newest", cursor=first.next_cursor)
    assert [i.comment.id for i in first.items + rest.items] == [ann[2].id, ann[0].id] and rest.next_cursor is None
    rejected = queue.list_queue(moderator, "rejected", author_id=ann[0].author_id)
    assert [i.comment.id for i in rejected.items] == [ann[1].id]
    assert [i.comment.id for i in queue.list_queue(moderator, "held", author_id=bob.author_id).items] == [bob.id]
    assert queue.list_queue(moderator, "held", author_id=bob.author_id + ann[0].author_id + 1000).items == []
    assert queue.queue_counts(moderator, author_id=ann[0].author_id) == {
        "held": 2,
        "reported": 0,
        "rejected": 1,
        "approved": 0,
        "spot-check": 0,
    }
