"""Scoring off the request path: the real model, the policy, and every failure mode."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from comments.classifier import ClassifierUnavailable
from comments.models import AuditEvent, Comment, Status, utcnow
from comments.tasks import ClassifierHolder
from comments.tasks.sweep import sweep
from tests.helpers import score_batch, set_settings

CLEAN = "Thanks for the thoughtful article about the city budget."
TOXIC = "You are a stupid idiot and I will hurt you"


def _comment(db, response) -> Comment:
    db.session.expire_all()
    return db.session.get(Comment, response.json["comment"]["id"])


def test_a_post_is_pending_at_once_then_decided_by_the_worker(api, db, scoring):
    clean = api.post(CLEAN)
    toxic = api.post(TOXIC, "Troll", ip="192.0.2.66")
    assert clean.status_code == 202 and clean.json["comment"]["status"] == "pending"
    assert toxic.status_code == 202
    assert scoring.wait_idle()
    published, held = _comment(db, clean), _comment(db, toxic)
    assert published.status == "published"
    assert held.status == "held"
    assert held.scores["toxicity"] >= 0.7 and published.scores["toxicity"] < 0.3
    assert held.model_name.startswith("detoxify-original@sha256:")
    assert held.scored_at is not None and held.max_score == max(held.scores.values())
    codes = {r["label"]: r for r in held.reasons if r["kind"] == "classifier"}
    assert codes["toxicity"]["threshold"] == 0.7 and codes["toxicity"]["effect"] == "hold"
    assert [n["body"] for n in api.read().json["comments"]] == [CLEAN]


def test_the_author_sees_waiting_for_review_without_scores(api, db, scoring):
    response = api.post(TOXIC, "Troll")
    scoring.wait_idle()
    own = api.client.get(
        f"/api/v1/comments/{response.json['comment']['id']}", headers={"X-Edit-Token": response.json["edit_token"]}
    ).json["comment"]
    assert own["status"] == "held"
    assert own["moderation_note"] == "Your comment is waiting for review by a moderator."
    assert "score" not in str(own).lower()


def test_an_edit_is_scored_again(api, db, scoring):
    response = api.post(CLEAN)
    scoring.wait_idle()
    edited = api.client.patch(
        f"/api/v1/comments/{response.json['comment']['id']}",
        json={"body": TOXIC},
        headers={"X-Edit-Token": response.json["edit_token"]},
    )
    assert edited.json["comment"]["status"] == "pending"
    scoring.wait_idle()
    assert _comment(db, response).status == "held"


def test_rules_and_scores_combine_into_one_status_with_every_reason(api, db, site, scoring):
    set_settings(site, premoderation="links")
    response = api.post(TOXIC + " https://x.example", "Troll")
    scoring.wait_idle()
    comment = _comment(db, response)
    assert comment.status == "held"
    kinds = {(r["kind"], r.get("code")) for r in comment.reasons}
    assert ("rule", "premoderation_links") in kinds and ("classifier", "label_over_threshold") in kinds


def test_a_banned_word_rejects_without_waiting_for_scores(api, db, site, scoring):
    set_settings(site, banned_words=["scamcoin"])
    response = api.post("scamcoin")
    assert response.json["comment"]["status"] == "rejected"


def test_auto_reject_thresholds(api, db, site, scoring):
    set_settings(site, reject_thresholds={"toxicity": 0.9})
    response = api.post(TOXIC)
    scoring.wait_idle()
    assert _comment(db, response).status == "rejected"


def test_shadow_mode_scores_and_records_without_holding(api, db, site, scoring):
    set_settings(site, shadow_mode=True)
    response = api.post(TOXIC)
    scoring.wait_idle()
    comment = _comment(db, response)
    assert comment.status == "published"
    assert comment.scores["toxicity"] >= 0.7
    assert any(r.get("label") == "toxicity" and r["effect"] == "note" for r in comment.reasons)


class Broken:
    """A classifier that fails, as a crashed model would (test double, never in production)."""

    name, version, labels = "broken", "0", ("toxicity",)

    def score(self, texts):
        raise ClassifierUnavailable("model crashed")


def test_classifier_down_holds_then_rescores_when_back(api, db, app, classifier, classifier_config):
    from comments.tasks.inprocess import InProcessScoring

    broken = InProcessScoring(app, ClassifierHolder(classifier_config, Broken()))
    app.extensions["comments.scoring"] = broken
    try:
        response = api.post(CLEAN)
        broken.wait_idle()
    finally:
        broken.stop()
        app.extensions["comments.scoring"] = None
    comment = _comment(db, response)
    assert comment.status == "held" and comment.needs_scoring
    assert [r["code"] for r in comment.reasons] == ["classifier_unavailable"]
    # The classifier is back: the next sweep scores it and the policy publishes it.
    run = score_batch(classifier)
    assert run.scored == 1
    comment = _comment(db, response)
    assert comment.status == "published" and not comment.needs_scoring
    assert comment.reasons == []
    actions = [e.action for e in db.session.query(AuditEvent).filter_by(comment_id=comment.id).order_by(AuditEvent.id)]
    assert actions == ["submitted", "scoring_failed", "scored"]


def test_failure_policy_publish(api, db, site, classifier):
    set_settings(site, failure_policy="publish")
    app_scoring_off_response = api.post(CLEAN)  # scoring is off in this test: decide by hand
    comment = _comment(db, app_scoring_off_response)
    comment.status = Status.PENDING.value
    db.session.commit()
    score_batch(Broken())
    comment = _comment(db, app_scoring_off_response)
    assert comment.status == "published" and comment.needs_scoring
    assert comment.reasons[0]["effect"] == "note"
    score_batch(classifier)
    assert not _comment(db, app_scoring_off_response).needs_scoring


class Interrupted:
    """Dies in the middle of a batch, like a worker killed mid-batch."""

    name, version, labels = "dying", "0", ("toxicity",)

    def score(self, texts):
        raise KeyboardInterrupt


def _pending(api, db, n):
    ids = []
    for i in range(n):
        ids.append(api.post(f"{CLEAN} number {i}", f"A{i}", ip=f"192.0.2.{i + 1}").json["comment"]["id"])
    db.session.query(Comment).filter(Comment.id.in_(ids)).update(
        {"status": "pending", "created_at": utcnow() - timedelta(minutes=5)}
    )
    db.session.commit()
    return ids


def test_a_worker_killed_mid_batch_loses_nothing(api, db, classifier, classifier_config):
    ids = _pending(api, db, 5)
    with pytest.raises(KeyboardInterrupt):
        score_batch(Interrupted())
    db.session.rollback()
    assert {c.status for c in db.session.query(Comment)} == {"pending"}
    # Another worker's sweep finds them: their job died with the first worker.
    assert sweep(ClassifierHolder(classifier_config, classifier), batch_size=2, grace_seconds=10) == 5
    db.session.expire_all()
    assert {db.session.get(Comment, i).status for i in ids} == {"published"}


def test_the_sweep_leaves_fresh_pending_comments_to_their_job(api, db, classifier, classifier_config):
    response = api.post(CLEAN)
    comment = _comment(db, response)
    comment.status = "pending"
    db.session.commit()
    assert sweep(ClassifierHolder(classifier_config, classifier), batch_size=8, grace_seconds=60) == 0


def test_scoring_the_same_comments_twice_is_harmless(api, db, classifier):
    ids = _pending(api, db, 3)
    first = score_batch(classifier, ids)
    second = score_batch(classifier, ids)
    assert first.scored == 3 and second.scored == 0
    scored_events = db.session.query(AuditEvent).filter(AuditEvent.action == "scored").count()
    assert scored_events == 3


def test_two_workers_racing_on_one_batch_decide_each_comment_once(app, api, db, classifier):
    ids = _pending(api, db, 6)
    barrier = threading.Barrier(2)
    runs = []

    def work():
        barrier.wait()
        with app.app_context():
            runs.append(score_batch(classifier, ids))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    db.session.expire_all()
    assert {db.session.get(Comment, i).status for i in ids} == {"published"}
    scored = db.session.query(AuditEvent).filter(AuditEvent.action == "scored").count()
    assert scored == 6
    assert sum(r.scored for r in runs) == 6, [(r.scored, r.skipped, r.failed) for r in runs]


def test_long_comments_are_scored_whole(api, db, scoring):
    filler = " ".join(["The council met on Tuesday to discuss the new budget for the library."] * 120)
    response = api.post(filler + " " + TOXIC)
    scoring.wait_idle()
    assert _comment(db, response).status == "held"


@pytest.mark.parametrize("configured, expected", [(None, 1), ("2", "2")])
def test_web_process_scoring_uses_one_torch_thread_unless_configured(monkeypatch, configured, expected):
    """In a web process the model shares the cores with requests: one torch thread by default."""
    from flask import Flask

    import comments.tasks as tasks
    import comments.tasks.holder as holder

    seen = {}

    def fake_load(config):
        seen["threads"] = config.get("CLASSIFIER_THREADS")
        return Broken()

    monkeypatch.setattr(holder, "load_classifier", fake_load)
    web = Flask("web")
    web.config.update(SCORING_MODE="inprocess", SCORING_COMMENTS_PER_BATCH=16, SCORING_SWEEP_SECONDS=60)
    if configured is not None:
        web.config["CLASSIFIER_THREADS"] = configured
    tasks.init_scoring(web)
    assert web.extensions["comments.scoring"].holder.get()[0] is not None
    assert seen["threads"] == expected
    # A worker process of its own (rq) keeps the classifier's default: every core.
    seen.clear()
    ClassifierHolder(web.config).get()
    assert seen["threads"] == configured


def test_one_batch_keeps_counters_audit_and_webhooks_right(api, db, classifier, held_back, site):
    from comments.models import Thread, Webhook, WebhookDelivery

    db.session.add(
        Webhook(
            site_id=site.id,
            url="https://hooks.example/c",
            secret="s" * 32,
            events=["comment.published", "comment.held"],
            active=True,
        )
    )
    db.session.commit()
    root = api.post(CLEAN, "Root").json["comment"]["id"]
    score_batch(classifier, [root])
    thread = db.session.execute(db.select(Thread)).scalar_one()
    revision = thread.revision
    replies = [
        api.post(f"{CLEAN} Reply {i}.", f"R{i}", ip=f"192.0.2.{20 + i}", parent_id=root).json["comment"]["id"]
        for i in range(3)
    ]
    toxic = api.post(TOXIC, "Troll", ip="192.0.2.66", parent_id=root).json["comment"]["id"]
    run = score_batch(classifier, replies + [toxic])
    assert run.scored == 4 and run.outcomes == {"published": 3, "held": 1}
    db.session.expire_all()
    thread = db.session.get(Thread, thread.id)
    assert thread.published_count == 4 and thread.revision > revision
    assert db.session.get(Comment, root).reply_count == 3
    scored = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "scored")).scalars().all()
    assert sorted((e.comment_id, e.from_status, e.to_status) for e in scored) == sorted(
        [(root, "pending", "published")] + [(i, "pending", "published") for i in replies] + [(toxic, "pending", "held")]
    )
    assert all(e.actor_type == "system" and e.actor_id == "classifier" for e in scored)
    held_event = next(e for e in scored if e.comment_id == toxic)
    assert {r["label"] for r in held_event.reasons if r["kind"] == "classifier"} >= {"toxicity"}
    deliveries = db.session.execute(db.select(WebhookDelivery)).scalars().all()
    assert sorted((d.comment_id, d.event) for d in deliveries) == sorted(
        [(root, "comment.published")] + [(i, "comment.published") for i in replies] + [(toxic, "comment.held")]
    )


def test_a_comment_decided_while_its_batch_was_scored_keeps_that_decision(app, api, db, classifier, held_back):
    from sqlalchemy import update

    ids = [api.post(f"{CLEAN} number {i}", f"A{i}", ip=f"192.0.2.{i + 1}").json["comment"]["id"] for i in range(3)]

    class ModeratorMeanwhile:
        """Another writer (a moderator) rejects the middle comment while the model runs."""

        name, version = classifier.name, classifier.version

        def score(self, texts):
            with db.engine.begin() as connection:
                connection.execute(
                    update(Comment).where(Comment.id == ids[1]).values(status="rejected", version=Comment.version + 1)
                )
            return classifier.score(texts)

    run = score_batch(ModeratorMeanwhile(), ids)
    assert (run.scored, run.skipped) == (2, 1)
    db.session.expire_all()
    assert [db.session.get(Comment, i).status for i in ids] == ["published", "rejected", "published"]
    assert db.session.get(Comment, ids[1]).scores is None
    scored = db.session.execute(db.select(AuditEvent.comment_id).where(AuditEvent.action == "scored")).scalars()
    assert sorted(scored) == [ids[0], ids[2]]


def _feeder(worker, count, every_seconds, stop):
    def feed():
        for i in range(count):
            if stop.is_set():
                return
            worker._queue.put(i + 1)
            stop.wait(every_seconds)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def test_a_batch_fills_while_comments_keep_coming_and_a_lone_one_goes_at_once(app):
    from comments.tasks.inprocess import InProcessScoring

    worker = InProcessScoring(app, ClassifierHolder(app.config))
    worker.batch_size, worker.linger_seconds, worker.max_linger_seconds = 5, 1, 60
    stop = threading.Event()
    _feeder(worker, 12, 0.01, stop)
    # Each comment arrives well within the 1 s gap: the batch waits for them, up to its size.
    assert worker._take_batch(timeout=5) == [1, 2, 3, 4, 5]
    assert worker._take_batch(timeout=5) == [6, 7, 8, 9, 10]
    assert worker._take_batch(timeout=5) == [11, 12]  # then no 13th within the gap: it goes
    stop.set()
    assert worker._take_batch(timeout=0.01) == []


def test_a_stream_of_comments_cannot_hold_a_batch_back_past_the_longest_linger(app):
    from comments.tasks.inprocess import InProcessScoring

    worker = InProcessScoring(app, ClassifierHolder(app.config))
    worker.batch_size, worker.linger_seconds, worker.max_linger_seconds = 10_000, 5, 0.3
    stop = threading.Event()
    _feeder(worker, 100_000, 0.005, stop)
    try:
        batch = worker._take_batch(timeout=5)
    finally:
        stop.set()
    assert 2 <= len(batch) < 10_000
    assert batch == list(range(1, len(batch) + 1))
