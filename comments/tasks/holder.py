"""The process's one classifier, loaded on first need (by the in-process worker, an rq worker or
``flask comments rescore``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from comments.classifier import Classifier, ClassifierUnavailable, load_classifier

log = logging.getLogger(__name__)


class ClassifierHolder:
    """The process's one classifier: loaded once, on first need; a failed load is retried later."""

    RETRY_SECONDS = 30.0

    def __init__(
        self,
        config: Any,
        classifier: Classifier | None = None,
        *,
        default_threads: int | None = None,
        wrap: Callable[[Classifier], Classifier] | None = None,
    ):
        self._config = config
        # What get() hands out instead of the model itself: in a web process, the shared scorer's
        # front (comments.tasks.analyzer), so that the pipeline's passes take turns with analyze calls.
        self._wrap = wrap
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
                self._error is None or time.monotonic() - self._failed_at > self.RETRY_SECONDS
            ):
                self._load()
            classifier, error = self._classifier, self._error
        if classifier is not None and self._wrap is not None:
            classifier = self._wrap(classifier)
        return classifier, error

    def loaded(self) -> tuple[Classifier | None, str | None]:
        """The model if it is loaded (never wrapped), else why not; never waits for a load."""
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
            log.info(
                "classifier %s@%s loaded in %.1fs",
                self._classifier.name,
                self._classifier.version,
                time.perf_counter() - started,
            )
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
