"""Background work: scoring comments off the request path.

Two ways to run it, chosen by ``COMMENTS_SCORING_MODE``:

- ``inprocess`` (default): a worker thread inside each web process holds the model and scores
  new comments as they arrive. Nothing else to run.
- ``rq``: web processes only enqueue ids on Redis; ``flask comments worker`` processes (any number,
  on any machine that reaches the database and Redis) hold the model and score.
- ``off``: no classifier; the site's rules alone decide.

Either way the database is the truth and every worker also sweeps it for comments still waiting
(their job was lost with a crashed process or Redis, or the classifier was down), so no comment
is ever lost.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from comments.classifier import Classifier, ClassifierUnavailable, load_classifier

log = logging.getLogger(__name__)

SCORING_MODES = ("inprocess", "rq", "off")


class ClassifierHolder:
    """The process's one classifier: loaded once, on first need; a failed load is retried later."""

    RETRY_SECONDS = 30.0

    def __init__(self, config: Any, classifier: Classifier | None = None, *, default_threads: int | None = None):
        self._config = config
        # Torch's intra-op thread count when the operator did not set COMMENTS_CLASSIFIER_THREADS.
        self._default_threads = default_threads
        self._lock = threading.Lock()
        self._classifier: Classifier | None = classifier
        self._error: str | None = None
        self._failed_at = 0.0
        self._loading = False

    def get(self) -> tuple[Classifier | None, str | None]:
        with self._lock:
            if self._classifier is None and (
                    self._error is None or time.monotonic() - self._failed_at > self.RETRY_SECONDS):
                self._load()
            return self._classifier, self._error

    def _load(self) -> None:
        started = time.perf_counter()
        self._loading = True
        try:
            config = self._config
            if self._default_threads is not None and not config.get("CLASSIFIER_THREADS"):
                config = {**config, "CLASSIFIER_THREADS": self._default_threads}
            self._classifier = load_classifier(config)
            self._error = None
            log.info("classifier %s@%s loaded in %.1fs", self._classifier.name, self._classifier.version,
                     time.perf_counter() - started)
        except ClassifierUnavailable as exc:
            self._error = str(exc)
            self._failed_at = time.monotonic()
            log.error("classifier could not be loaded: %s", exc)
        finally:
            self._loading = False

    @property
    def state(self) -> str:
        if self._classifier is not None:
            return "loaded"
        if self._loading:
            return "loading"
        return f"failed: {self._error}" if self._error else "not_loaded"


def init_scoring(app: Flask) -> None:
    """Attach the configured scoring mode to the app (``app.extensions['comments.scoring']``)."""
    mode = app.config["SCORING_MODE"]
    if mode not in SCORING_MODES:
        raise ValueError(f"COMMENTS_SCORING_MODE must be one of {', '.join(SCORING_MODES)}, not {mode!r}")
    if mode == "off":
        app.extensions["comments.scoring"] = None
        return
    if mode == "rq":
        from comments.tasks.rq import RQScoring

        app.extensions["comments.scoring"] = RQScoring(app)
        return
    from comments.tasks.background import start_with_first_request
    from comments.tasks.inprocess import InProcessScoring

    # In a web process the model shares the cores with the request threads (and with the other
    # web processes). Torch's OpenMP threads spin-wait between operations and fight them: on 2
    # busy cores, scoring one comment took 57 ms of CPU with 2 torch threads and 3.4 ms with 1
    # (bench/README.md). So one torch thread per web process unless the operator says otherwise.
    app.extensions["comments.scoring"] = InProcessScoring(app, ClassifierHolder(app.config, default_threads=1))
    # It loads the model and sweeps up what earlier processes left.
    start_with_first_request(app, "comments.scoring")
