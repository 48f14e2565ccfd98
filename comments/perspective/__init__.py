"""Google's Perspective API protocol (v1alpha1) served by our classifier: an existing Perspective
client (Coral Talk, plugins, Google's own client libraries) works after changing its base URL and
key. The rules are in ``comments.services.analysis``; this package is the HTTP side (views,
request schemas, Google's error shape, the discovery document)."""

from __future__ import annotations

from flask import Flask

from comments.perspective.standin import StandInAnalyzer
from comments.perspective.views import bp
from comments.tasks.holder import ClassifierHolder

__all__ = ["bp", "init_analyzer"]


def init_analyzer(app: Flask) -> None:
    """Give the app its scorer (``app.extensions['comments.analyzer']``), once scoring is set up:
    none with scoring off (analyze answers 503 UNAVAILABLE); the in-process worker's classifier in
    ``inprocess`` mode; in ``rq`` mode a classifier of the web process's own, loaded on the first
    analyze request."""
    mode = app.config["SCORING_MODE"]
    scoring = app.extensions.get("comments.scoring")
    if mode == "off":
        app.extensions["comments.analyzer"] = None
    elif scoring is not None and isinstance(getattr(scoring, "holder", None), ClassifierHolder):
        app.extensions["comments.analyzer"] = StandInAnalyzer(scoring.holder)
    else:
        app.extensions["comments.analyzer"] = StandInAnalyzer(ClassifierHolder(app.config, default_threads=1))
