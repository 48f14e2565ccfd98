"""No text reaches readers on another text's scores: an edit while the model runs, in a batch,
under load, and the rescore command."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time

import pytest

from comments.extensions import db as database
from comments.models import AuditEvent, Comment, Status
from comments.services import moderation
from comments.services.scoring import rescore
from comments.services.sites import effective_settings
from tests.helpers import TEST_REDIS_URL, score_batch
from tests.tasks.test_rq import ROOT, _statuses

CLEAN = (
    "Thanks for the thoughtful article about the city budget. The council should publish the "
    "figures for the library and the parks as well, so that everyone can follow the debate."
)
TOXIC = "You are a stupid idiot and I will hurt you"


def _edit(api, posted, body):
    return api.client.patch(
        f"/api/v1/comments/{posted['comment']['id']}",
        json={"body": body},
        headers={"X-Edit-Token": posted["edit_token"]},
    )


class EditsWhileScoring:
    """The real model, and while it runs the authors of some comments edit them (as readers do
    25-50 ms after posting): the edit commits between the scorer's read and its write."""

    def __init__(self, classifier, edits):
        self.classifier, self.edits = classifier, edits
        self.name, self.version = classifier.name, classifier.version
        self.calls = 0

    def score(self, texts):
        self.calls += 1
        if self.calls == 1:
            for edit in self.edits:
                assert edit().status_code == 200
        return self.classifier.score(texts)


def _stored(db, comment_id) -> Comment:
    db.session.expire_all()
    return db.session.get(Comment, comment_id)


def test_an_edit_while_the_model_runs_is_not_published_on_the_old_texts_scores(api, db, classifier, held_back):
    posted = api.post(CLEAN).json
    run = score_batch(EditsWhileScoring(classifier, [lambda: _edit(api, posted, TOXIC)]), [posted["comment"]["id"]])
    comment = _stored(db, posted["comment"]["id"])
    assert comment.body == TOXIC
    assert comment.status == Status.PENDING and comment.scores is None  # left for its own scoring
    assert run.scored == 0 and run.skipped == 1
    assert [n["body"] for n in api.read().json["comments"]] == []
    # The edit's own job scores the text that is stored.
    score_batch(classifier, held_back.ids)
    comment = _stored(db, posted["comment"]["id"])
    assert comment.status == Status.HELD and comment.scores["toxicity"] >= 0.7
    scored = db.session.query(AuditEvent).filter_by(comment_id=comment.id, action="scored").all()
    assert [(e.from_status, e.to_status) for e in scored] == [("pending", "held")]


def test_in_a_batch_only_the_edited_comments_wait_for_their_new_texts_scores(api, db, classifier, held_back):
    posted = [api.post(f"{CLEAN} Number {i}.", f"A{i}", ip=f"192.0.2.{i + 1}").json for i in range(8)]
    edited = posted[1::2]
    edits = [lambda p=p: _edit(api, p, f"{TOXIC} number {p['comment']['id']}") for p in edited]
    ids = [p["comment"]["id"] for p in posted]
    run = score_batch(EditsWhileScoring(classifier, edits), ids)
    assert (run.scored, run.skipped) == (4, 4)
    for p in posted:
        comment = _stored(db, p["comment"]["id"])
        if p in edited:
            assert comment.status == Status.PENDING and comment.scores is None
        else:
            assert comment.status == Status.PUBLISHED and comment.body.startswith(CLEAN)
    score_batch(classifier, ids)
    assert {_stored(db, p["comment"]["id"]).status for p in edited} == {Status.HELD}


def test_the_decision_write_itself_checks_the_text(api, db, classifier, held_back):
    """Even a writer that changed the text without moving the version cannot get old scores
    written over a new text: the statement that stores a decision names the text it is for."""
    from sqlalchemy import update

    posted = api.post(CLEAN).json
    comment_id = posted["comment"]["id"]

    class TextSwappedBehindTheVersion:
        name, version = classifier.name, classifier.version

        def score(self, texts):
            with db.engine.begin() as connection:
                connection.execute(update(Comment).where(Comment.id == comment_id).values(body=TOXIC))
            return classifier.score(texts)

    score_batch(TextSwappedBehindTheVersion(), [comment_id])
    comment = _stored(db, comment_id)
    assert comment.status == Status.PENDING and comment.scores is None


def test_rescore_apply_leaves_a_comment_edited_while_the_model_ran(api, db, classifier, held_back):
    posted = api.post(CLEAN).json
    score_batch(classifier, held_back.ids)
    assert _stored(db, posted["comment"]["id"]).status == Status.PUBLISHED
    result = rescore(
        EditsWhileScoring(classifier, [lambda: _edit(api, posted, TOXIC)]), apply=True, commit_each=db.session.commit
    )
    comment = _stored(db, posted["comment"]["id"])
    assert comment.body == TOXIC and comment.status == Status.PENDING  # the edit's, not the rescore's
    assert (
        not [c for c in result.changes if c["comment_id"] == comment.id and c["to"] == "published"]
        or result.skipped == 1
    )
    assert db.session.query(AuditEvent).filter_by(comment_id=comment.id, action="rescored").count() == 0


def _expected_status(db, classifier, comment: Comment) -> tuple[str, dict[str, float]]:
    scores = classifier.score([comment.body])[0]
    status, _ = moderation.outcome(
        [], effective_settings(comment.site), moderation.ClassifierResult(scores, model="check")
    )
    return status.value, scores


@pytest.mark.slow
def test_edits_during_scoring_under_load_never_publish_another_texts_scores(app, api, db, classifier, scoring):
    """Fault injection: readers post long clean comments and edit some of them into insults a
    random 0-60 ms later, from several threads, while the in-process scorer decides batches."""
    rng = random.Random(13)
    posted: list[dict] = []
    lock = threading.Lock()
    errors: list[str] = []

    def reader(n: int) -> None:
        client = app.test_client()
        for i in range(12):
            body = f"{CLEAN} Reader {n}, comment {i}."
            response = client.post(
                api.thread_url(f"load-{n % 3}"),
                json={"body": body, "author_name": f"R{n}"},
                environ_base={"REMOTE_ADDR": f"192.0.2.{n * 16 + i + 1}"},
            )
            if response.status_code != 202:
                errors.append(f"post {response.status_code} {response.get_data(as_text=True)[:200]}")
                continue
            with lock:
                posted.append(response.json)
            if rng.random() < 0.5:
                time.sleep(rng.random() * 0.06)
                edit = client.patch(
                    f"/api/v1/comments/{response.json['comment']['id']}",
                    json={"body": f"{TOXIC} (reader {n}, {i})"},
                    headers={"X-Edit-Token": response.json["edit_token"]},
                )
                if edit.status_code != 200:
                    errors.append(f"edit {edit.status_code} {edit.get_data(as_text=True)[:200]}")

    readers = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    assert scoring.wait_idle()
    assert not errors
    db.session.expire_all()
    edited = 0
    for p in posted:
        comment = db.session.get(Comment, p["comment"]["id"])
        assert comment.status in (Status.PUBLISHED, Status.HELD), (comment.id, comment.status)
        expected, scores = _expected_status(db, classifier, comment)
        # The stored scores are the stored text's, and so is the decision.
        assert comment.status == expected, (comment.id, comment.body, comment.scores)
        assert comment.scores["toxicity"] == pytest.approx(scores["toxicity"], abs=1e-3)
        if comment.body.startswith(TOXIC):
            edited += 1
            assert comment.status == Status.HELD
    assert edited >= 5
    assert not [c for c in api.read("load-0").json["comments"] if c["body"].startswith(TOXIC)]


@pytest.mark.slow
@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs COMMENTS_TEST_REDIS_URL")
def test_edits_while_a_real_rq_worker_scores_never_publish_another_texts_scores(rq_app, classifier):
    """The scale-out shape: web requests enqueue on Redis, a `flask comments worker` process
    batches the jobs; half the comments are edited into insults 0-50 ms after posting."""
    app, config = rq_app
    app.config["RATELIMIT_POST"] = "1000 per minute"  # one test client posts and edits them all
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FLASK_APP": "wsgi"}
    env.update({f"COMMENTS_{k}": str(v) for k, v in config.items() if k != "TESTING"})
    flask = [sys.executable, "-m", "flask"]
    worker = subprocess.Popen(
        [*flask, "comments", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rng = random.Random(7)
    client = app.test_client()
    ids = []
    try:
        for i in range(48):
            response = client.post(
                "/api/v1/sites/news/threads/rq-load/comments",
                json={"body": f"{CLEAN} Comment {i}.", "author_name": f"R{i}"},
                environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"},
            )
            assert response.status_code == 202, response.json
            ids.append(response.json["comment"]["id"])
            if i % 2:
                time.sleep(rng.random() * 0.05)
                edit = client.patch(
                    f"/api/v1/comments/{ids[-1]}",
                    json={"body": f"{TOXIC} ({i})"},
                    headers={"X-Edit-Token": response.json["edit_token"]},
                )
                assert edit.status_code == 200, edit.json
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "pending" in _statuses(app, ids):
            time.sleep(0.1)
    finally:
        # SIGTERM is rq's warm shutdown: the job under way finishes first, which on a loaded
        # machine took longer than 20 s (CI, 2026-12-07). Then it is stopped for good.
        worker.terminate()
        try:
            worker.wait(90)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    with app.app_context():
        database.session.expire_all()
        for comment_id in ids:
            comment = database.session.get(Comment, comment_id)
            expected, scores = _expected_status(database, classifier, comment)
            assert comment.status == expected, (comment.id, comment.body, comment.scores)
            assert comment.scores["toxicity"] == pytest.approx(scores["toxicity"], abs=1e-3)
            assert comment.status == (Status.HELD if comment.body.startswith(TOXIC) else Status.PUBLISHED)
