"""Scale-out scoring: web processes enqueue comment ids on Redis; ``flask comments worker``
processes (RQ SimpleWorkers, so the model stays loaded between jobs) score them.

Redis only carries hints. The comment is committed, `pending`, before its id is enqueued; if Redis
is down then, the post still succeeds, the comment waits in the database, and every worker's sweep
thread (which needs only the database) finds it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import redis
from flask import Flask
from rq import Queue, SimpleWorker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from comments.redis_health import CLIENT_OPTIONS, RedisHealth
from comments.tasks.calibration import CalibrationSchedule
from comments.tasks.holder import ClassifierHolder
from comments.tasks.outbox import OutboxWorker, drain
from comments.tasks.sweep import score_ids, sweep

log = logging.getLogger(__name__)

QUEUE_NAME = "comments-scoring"
REDIS_USE = "scoring_queue"


def _connection(app: Flask) -> redis.Redis:
    url = app.config.get("REDIS_URL")
    if not url:
        raise ValueError("COMMENTS_SCORING_MODE=rq needs COMMENTS_REDIS_URL")
    # Short timeouts for the web side's enqueue; a worker lengthens its own for the blocking pop.
    return redis.Redis.from_url(url, **CLIENT_OPTIONS)


class RQScoring:
    enabled = True

    def __init__(self, app: Flask):
        self.connection = _connection(app)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)
        self.redis: RedisHealth = app.extensions["comments.redis"]

    def enqueue(self, comment_ids: Iterable[int]) -> None:
        """Never raises: the comments are already committed, and wait for the sweep if this fails."""
        ids = list(comment_ids)
        if not self.redis.may_try(REDIS_USE):
            return  # Redis failed a moment ago: not waited for again on every post
        try:
            self.queue.enqueue(
                "comments.tasks.rq.score_job", ids, job_timeout=600, result_ttl=0, failure_ttl=7 * 24 * 3600
            )
        except (redis.RedisError, OSError) as exc:
            self.redis.failed(REDIS_USE, exc)
        else:
            self.redis.worked(REDIS_USE)

    @property
    def state(self) -> str:
        unknown = "unknown: Redis is down (workers' sweeps still score from the database)"
        if not self.redis.may_try(REDIS_USE):
            return unknown
        try:
            workers = SimpleWorker.count(connection=self.connection, queue=self.queue)
        except (redis.RedisError, OSError) as exc:
            self.redis.failed(REDIS_USE, exc)
            return unknown
        self.redis.worked(REDIS_USE)
        return f"workers: {workers}" if workers else "no workers are running"


# The worker process's app and model, set by run_worker before any job runs.
_worker: tuple[Flask, ClassifierHolder] | None = None


def score_job(comment_ids: list[int]) -> int:
    """The RQ job: score these comments (those still waiting) and decide them."""
    if _worker is None:
        raise RuntimeError("score_job runs inside `flask comments worker`")
    app, holder = _worker
    batch_size = app.config["SCORING_COMMENTS_PER_BATCH"]
    ids = list(comment_ids)
    ids += _take_waiting_jobs(batch_size - len(ids))
    with app.app_context():
        return score_ids(holder, ids, batch_size).scored


def _take_waiting_jobs(room: int) -> list[int]:
    """Comment ids of jobs still queued behind this one, taken off the queue so that they share
    this job's forward pass and transaction (web processes enqueue one job per post; scored one
    by one, each would pay a pass and a commit of its own).

    Taking them loses nothing if this worker dies before deciding them: the comments wait in the
    database and a sweep scores them.
    """
    job = get_current_job()
    if job is None or room <= 0:
        return []
    queue = Queue(job.origin, connection=job.connection)
    taken: list[int] = []
    try:
        while len(taken) < room:
            raw = job.connection.lpop(queue.key)  # (rq 3.0's pop_job_id raises on an empty queue)
            if raw is None:
                break
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                waiting = Job.fetch(job_id, connection=job.connection)
            except NoSuchJobError:
                continue  # deleted meanwhile
            if waiting.func_name != f"{__name__}.score_job":
                queue.push_job_id(job_id, at_front=True)  # not ours to take
                break
            taken.extend(int(i) for i in waiting.args[0])
            waiting.delete()
    except redis.RedisError as exc:
        # Redis went away mid-way: this job still scores its own comments and those taken so far;
        # a job popped but not read stays pending in the database, for the sweep.
        log.warning("Redis failed while taking queued jobs (%s); scoring what was taken", exc)
    return taken


def _sweep_forever(app: Flask, holder: ClassifierHolder, stop: threading.Event) -> None:
    calibration = CalibrationSchedule()
    while not stop.is_set():
        try:
            with app.app_context():
                sweep(holder, app.config["SCORING_COMMENTS_PER_BATCH"], app.config["SCORING_GRACE_SECONDS"])
                calibration.run_if_due()  # sites with auto_calibrate on, once a day
        except Exception:  # a database outage must not end the sweeps
            log.exception("sweep failed; trying again")
        stop.wait(app.config["SCORING_SWEEP_SECONDS"])


def run_worker(app: Flask, burst: bool = False) -> None:
    """Load the model, then take jobs from Redis and sweep the database until stopped."""
    global _worker
    holder = ClassifierHolder(app.config)
    holder.get()
    _worker = (app, holder)
    stop = threading.Event()
    if burst:
        with app.app_context():
            sweep(holder, app.config["SCORING_COMMENTS_PER_BATCH"], app.config["SCORING_GRACE_SECONDS"])
        drain(app)
    else:
        threading.Thread(target=_sweep_forever, args=(app, holder, stop), name="comments-sweep", daemon=True).start()
        outbox = OutboxWorker(app)  # webhooks: workers deliver whatever the web side stored
        outbox.start()
    connection = _connection(app)
    try:
        while True:
            try:
                worker = SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
                worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
                if burst:
                    return
            except redis.RedisError as exc:
                if burst:
                    return
                # Redis is down: the sweep thread goes on scoring from the database meanwhile.
                log.warning("Redis unreachable (%s); retrying in 5 s", exc)
                time.sleep(5)
            else:
                return  # the worker stopped on a signal
    finally:
        stop.set()
