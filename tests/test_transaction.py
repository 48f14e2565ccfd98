"""One owner of the transaction: services flush, the view, command or job commits; steps that must
follow the commit (enqueueing for scoring) run only once it happened, never after a rollback."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text, update

from comments import metrics, transaction
from comments.models import Comment, LoginFailure, Thread
from comments.services.submission import NewComment, submit

SERVICES = Path(__file__).resolve().parent.parent / "comments" / "services"


def _committed_count(db, table) -> int:
    """Rows as another connection sees them: only what was committed."""
    with db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


# --- the mechanism ------------------------------------------------------------------------------


def test_after_commit_steps_run_once_committed_and_only_once(db, site):
    ran: list[str] = []
    site.name = "News, renamed"
    transaction.after_commit(lambda: ran.append("step"))
    db.session.flush()
    assert ran == []
    transaction.commit()
    assert ran == ["step"]
    site.name = "News"
    transaction.commit()
    assert ran == ["step"]


def test_a_rollback_drops_the_after_commit_steps(db, site):
    ran: list[str] = []
    site.name = "News, renamed"
    transaction.after_commit(lambda: ran.append("step"))
    db.session.rollback()
    site.name = "News, again"
    transaction.commit()
    assert ran == []


def test_a_savepoint_rolled_back_keeps_the_units_after_commit_steps(db, site):
    ran: list[str] = []
    transaction.after_commit(lambda: ran.append("step"))
    savepoint = db.session.begin_nested()
    db.session.add(Thread(site_id=site.id, key="inside-the-savepoint"))
    savepoint.rollback()
    site.name = "News, renamed"
    transaction.commit()
    assert ran == ["step"]
    assert _committed_count(db, Thread) == 0


def test_unit_of_work_commits_when_the_block_ends_and_rolls_back_when_it_raises(db, site):
    with transaction.unit_of_work():
        db.session.add(Thread(site_id=site.id, key="kept"))
    assert _committed_count(db, Thread) == 1
    ran: list[str] = []
    with pytest.raises(RuntimeError), transaction.unit_of_work():
        db.session.add(Thread(site_id=site.id, key="dropped"))
        db.session.flush()
        transaction.after_commit(lambda: ran.append("step"))
        raise RuntimeError("the job failed")
    assert _committed_count(db, Thread) == 1
    assert ran == []


def _commits_during(db, block) -> int:
    commits = []
    listener = lambda connection: commits.append(connection)  # noqa: E731
    event.listen(db.engine, "commit", listener)
    try:
        block()
    finally:
        event.remove(db.engine, "commit", listener)
    return len(commits)


def test_a_unit_of_work_that_only_read_is_not_committed(db, site):
    assert _commits_during(db, lambda: _read_in_a_unit_of_work(db)) == 0


def _read_in_a_unit_of_work(db):
    with transaction.unit_of_work():
        db.session.execute(select(func.count()).select_from(Thread)).scalar_one()


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda db, site: db.session.add(Thread(site_id=site.id, key="orm")), id="orm-add"),
        pytest.param(lambda db, site: db.session.execute(update(Thread).values(title="core update")), id="core-update"),
        pytest.param(lambda db, site: db.session.execute(text("UPDATE threads SET title = 'text'")), id="text-update"),
        pytest.param(lambda db, site: transaction.after_commit(lambda: None), id="a-step-only"),
    ],
)
def test_a_unit_of_work_that_wrote_in_any_way_is_committed(db, site, write):
    def block():
        with transaction.unit_of_work():
            db.session.execute(select(func.count()).select_from(Thread)).scalar_one()  # a read first
            write(db, site)

    assert _commits_during(db, block) == 1


def test_reading_a_thread_commits_nothing_and_posting_commits_once(db, api):
    assert _commits_during(db, lambda: api.post()) == 1
    assert _commits_during(db, lambda: api.read()) == 0


# --- services never commit ------------------------------------------------------------------------


def _commit_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"
    ]


def test_no_service_commits():
    offenders = {}
    for path in sorted(SERVICES.rglob("*.py")):
        name = path.relative_to(SERVICES).as_posix()
        lines = _commit_calls(path)
        if lines:
            offenders[name] = lines
    assert offenders == {}, "services flush; the view, command or job commits (comments/transaction.py)"


def test_the_commit_check_finds_a_commit():
    assert _commit_calls(Path(transaction.__file__)) != []


# --- views: one unit of work ------------------------------------------------------------------


def test_a_post_refused_after_its_thread_was_made_leaves_no_thread(db, api):
    # The thread is created (flushed) before the parent is checked; the refusal rolls both back.
    answer = api.post(key="a-new-article", parent_id=999_999)
    assert answer.status_code == 422, answer.json
    assert _committed_count(db, Thread) == 0
    assert _committed_count(db, Comment) == 0


def test_a_failed_login_is_counted_although_the_answer_is_an_error(db, client, moderator):
    answer = client.post("/api/v1/auth/token", json={"email": "mod@news.example", "password": "wrong"})
    assert answer.status_code == 401
    assert _committed_count(db, LoginFailure) == 1


# --- after the commit: scoring and metrics ------------------------------------------------------


def _submitted(status: str) -> float:
    return metrics.registry.get_sample_value("comments_submitted_total", {"status": status}) or 0.0


class _SeesCommitted:
    """A scorer that looks for each comment it is handed from a connection of its own."""

    enabled = True

    def __init__(self, db):
        self.db = db
        self.seen: list[tuple[int, str | None]] = []

    def enqueue(self, ids):
        with self.db.engine.connect() as connection:
            for comment_id in ids:
                status = connection.execute(select(Comment.status).where(Comment.id == comment_id)).scalar()
                self.seen.append((comment_id, status))


def test_a_post_is_handed_to_the_scorer_only_once_committed(app, db, api, scoring, monkeypatch):
    handed: list[tuple[int, str | None]] = []
    real_enqueue = scoring.enqueue

    def enqueue(ids):
        ids = list(ids)
        with db.engine.connect() as connection:
            handed.extend((i, connection.execute(select(Comment.status).where(Comment.id == i)).scalar()) for i in ids)
        real_enqueue(ids)

    monkeypatch.setattr(scoring, "enqueue", enqueue)
    posted = api.post("A calm and thoughtful comment about the budget.")
    assert posted.status_code == 202, posted.json
    assert handed == [(posted.json["comment"]["id"], "pending")]  # in the database when handed over
    assert scoring.wait_idle()
    db.session.expire_all()
    assert db.session.get(Comment, posted.json["comment"]["id"]).status == "published"


def test_a_submission_rolled_back_is_neither_enqueued_nor_counted(db, site):
    scorer = _SeesCommitted(db)
    counted = _submitted("pending")
    with pytest.raises(RuntimeError), transaction.unit_of_work():
        submit(site, "article-1", NewComment(body="Posted, then the request failed.", author_name="Ann"), scorer)
        raise RuntimeError("the view failed after the service")
    assert scorer.seen == []
    assert _submitted("pending") == counted
    assert _committed_count(db, Comment) == 0
    with transaction.unit_of_work():
        result = submit(site, "article-1", NewComment(body="Posted and committed.", author_name="Ann"), scorer)
    assert scorer.seen == [(result.comment_id, "pending")]
    assert _submitted("pending") == counted + 1
