"""The embedded worker: one thread per web process scores comments in batches."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from flask import Flask

from comments.extensions import db
from comments.tasks.background import BackgroundThread
from comments.tasks.calibration import CalibrationSchedule
from comments.tasks.holder import ClassifierHolder
from comments.tasks.sweep import score_ids, sweep

log = logging.getLogger(__name__)


class InProcessScoring(BackgroundThread):
    enabled = True
    thread_name = "comments-scoring"

    def __init__(self, app: Flask, holder: ClassifierHolder):
        super().__init__()
        self.app = app
        self.holder = holder
        self.batch_size = app.config["SCORING_COMMENTS_PER_BATCH"]
        self.linger_seconds = app.config.get("SCORING_LINGER_MS", 20) / 1000
        self.max_linger_seconds = max(self.linger_seconds, app.config.get("SCORING_MAX_LINGER_MS", 200) / 1000)
        self.sweep_seconds = app.config["SCORING_SWEEP_SECONDS"]
        self._queue: queue.Queue[int] = queue.Queue()
        self._busy = threading.Event()
        self.calibration = CalibrationSchedule()

    # --- the Scoring interface used by the submission pipeline ------------------------------
    def enqueue(self, comment_ids: Iterable[int]) -> None:
        for comment_id in comment_ids:
            self._queue.put(comment_id)
        self.start()

    # --- lifecycle (start and stop: BackgroundThread) -------------------------------------------
    def wait_idle(self, timeout: float = 30) -> bool:
        """Until everything enqueued is decided (tests, graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and not self._busy.is_set():
                return True
            time.sleep(0.01)
        return False

    @property
    def state(self) -> str:
        return self.holder.state

    def _run(self) -> None:
        self.holder.get()  # load the model now, not when the first comment is waiting
        next_sweep = time.monotonic()  # at start: pick up whatever an earlier process left
        while not self._stop.is_set():
            ids = self._take_batch(timeout=0.25)
            try:
                if ids:
                    with self.app.app_context():
                        score_ids(self.holder, ids, self.batch_size)
                if time.monotonic() >= next_sweep:
                    with self.app.app_context():
                        sweep(self.holder, self.batch_size, self.app.config["SCORING_GRACE_SECONDS"])
                        self.calibration.run_if_due()  # sites with auto_calibrate on, once a day
                    next_sweep = time.monotonic() + self.sweep_seconds
            except Exception:  # the thread must survive anything (a database outage); the sweep retries
                log.exception("scoring batch failed; the comments stay waiting and are retried")
                with self.app.app_context():
                    db.session.rollback()
                time.sleep(1)
            finally:
                self._busy.clear()

    def _take_batch(self, timeout: float) -> list[int]:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        self._busy.set()
        ids = [first]
        # Wait a little for the next comment, and again while more keep coming, up to a limit: a
        # lone post is scored at once, while under a stream of posts a batch fills up. Every
        # batch costs a forward pass and a few statements whatever its size, so under load bigger
        # batches leave more of the CPU to answering posts. The thread sleeps rather than waking
        # for each comment that joins: every wake-up takes the GIL from the request threads.
        started = time.monotonic()
        self._drain_into(ids)
        while len(ids) < self.batch_size:
            waited = time.monotonic() - started
            remaining = self.max_linger_seconds - waited
            if remaining <= 0:
                break
            pause = self.linger_seconds
            if len(ids) > 1 and waited > 0:  # a stream: sleep about until the batch is full
                pause = max(pause, (self.batch_size - len(ids)) * waited / (len(ids) - 1))
            before = len(ids)
            time.sleep(min(pause, remaining))
            self._drain_into(ids)
            if len(ids) == before:
                break  # none came within the pause: what is here goes now
        return ids

    def _drain_into(self, ids: list[int]) -> None:
        while len(ids) < self.batch_size:
            try:
                ids.append(self._queue.get_nowait())
            except queue.Empty:
                return
