"""Background work: scoring comments off the request path.

Two ways to run it, chosen by ``COMMENTS_SCORING_MODE``:

- ``inprocess`` (default): a worker thread inside each web process holds the model and scores
  new comments as they arrive. Nothing else to run.
- ``rq``: web processes only enqueue ids on Redis; ``flask comments worker`` processes (any number,
  on any machine that reaches the database and Redis) hold the model and score.
- ``off``: no classifier; the site's rules alone decide.

In ``inprocess`` and ``rq`` mode every web process also has a shared scorer for analyze calls
(``comments.tasks.analyzer``; in ``inprocess`` mode the pipeline's passes go through it too).

Either way the database is the truth and every worker also sweeps it for comments still waiting
(their job was lost with a crashed process or Redis, or the classifier was down), so no comment
is ever lost.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from comments.extensions import db
from comments.services import apikeys
from comments.tasks import analyzer
from comments.tasks.analyzer import SharedScorer
from comments.tasks.background import start_with_first_request
from comments.tasks.holder import ClassifierHolder
from comments.tasks.inprocess import InProcessScoring

__all__ = ["SCORING_MODES", "ClassifierHolder", "init_scoring"]

SCORING_MODES = ("inprocess", "rq", "off")


def init_scoring(app: Flask) -> None:
    """Attach the configured scoring mode to the app (``app.extensions['comments.scoring']``)."""
    mode = app.config["SCORING_MODE"]
    if mode not in SCORING_MODES:
        raise ValueError(f"COMMENTS_SCORING_MODE must be one of {', '.join(SCORING_MODES)}, not {mode!r}")
    if mode == "off":
        app.extensions["comments.scoring"] = None
        app.extensions[analyzer.EXTENSION] = None
        return
    # In a web process the model shares the cores with the request threads (and with the other
    # web processes). Torch's OpenMP threads spin-wait between operations and fight them: on 2
    # busy cores, scoring one comment took 57 ms of CPU with 2 torch threads and 3.4 ms with 1
    # (bench/README.md). So one torch thread per web process unless the operator says otherwise.
    shared = SharedScorer(app.config, default_threads=1)
    app.extensions[analyzer.EXTENSION] = shared
    if mode == "rq":
        # Only in rq mode: rq is an optional dependency (the "rq" extra).
        from comments.tasks.rq import RQScoring

        # The web process scores no comments: its model serves the analyze calls alone, loaded
        # with the first request when a key may analyze, else on the first analyze call.
        app.extensions["comments.scoring"] = RQScoring(app)
        _preload_when_analyze_is_served(app)
        return
    # One model per process: the pipeline scores through the shared scorer's holder, whose
    # classifier takes turns with the analyze calls, pass by pass.
    app.extensions["comments.scoring"] = InProcessScoring(app, shared.holder)
    # It loads the model and sweeps up what earlier processes left.
    start_with_first_request(app, "comments.scoring")


def _preload_when_analyze_is_served(app: Flask) -> None:
    """rq mode: the web process's model serves analyze calls alone, so it is loaded (in the
    background) with the process's first request only when some active key has the ``analyze``
    scope; the first analyze call would otherwise wait for the load (answered 503). Not at import
    nor in ``create_app``: CLI commands and ``flask comments worker`` serve no request and never
    load it for this. A key given the scope later loads it through the host API
    (``analyzer.preload``) or with its first call."""
    checked = False

    @app.before_request
    def _load_the_model_if_a_key_may_analyze() -> None:
        nonlocal checked
        if checked:
            return
        try:
            wanted = apikeys.scope_in_use(apikeys.ANALYZE_SCOPE)
        except SQLAlchemyError:
            db.session.rollback()
            return  # the database is not reachable: asked again with the next request
        checked = True
        if wanted:
            analyzer.preload()
