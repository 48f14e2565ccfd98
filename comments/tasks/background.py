"""A daemon thread a web process starts with its first request: the embedded scoring worker and
the webhook outbox both run in one."""

from __future__ import annotations

import threading

from flask import Flask


class BackgroundThread:
    """Started on demand (again, if it died), at most once at a time; ``stop`` ends it."""

    thread_name = "comments-background"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return  # the common case, without taking the lock
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError


def start_with_first_request(app: Flask, extension: str) -> None:
    """Start ``app.extensions[extension]`` when the process serves its first request: not at
    import, so that commands such as `flask db upgrade` start no threads (nor load a model)."""

    @app.before_request
    def _start_background_thread() -> None:
        current = app.extensions.get(extension)
        if current is not None and hasattr(current, "start"):  # tests may swap in a plain stand-in
            current.start()
