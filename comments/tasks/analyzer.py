"""The process's shared scorer: analyze calls (the Perspective-compatible API) and the comment
pipeline take turns on the one model, one forward pass at a time.

An analyze call is a web request with a deadline (Coral gives up after 800 ms), so it cannot wait
behind the comment pipeline's batch of 48 comments (seconds of a bert-base model's time on 2 cores),
and many small calls answered one by one would each pay a forward pass of their own. One thread
per process (``comments-analyzer``) therefore runs every forward pass of the process's model:

- every analyze call waiting when the thread is free goes into one batch: all their texts are
  cut into windows and grouped into passes together (:mod:`comments.classifier.planner`), so
  concurrent calls share passes;
- the pipeline's ``score()`` (through :class:`PipelineClassifier`, which the in-process worker's
  :class:`~comments.tasks.holder.ClassifierHolder` hands out) is cut into the same windows, but run
  one pass per turn, and while analyze calls are being made those passes are kept short
  (:attr:`SharedScorer.SLICE_SECONDS` of the model's measured time);
- when both wait, they alternate: an analyze batch, then one pipeline pass, then the next analyze
  batch. An analyze call never waits for more than the pass in progress and the batch before its
  own; the pipeline still gets a pass per batch, so it is slowed down, never stopped.

Each text's summary is the pipeline's (each label's maximum over the text's windows, the same
:func:`~comments.classifier.planner.reassemble`), and each window it scored comes back as a
:class:`Span` with the characters it covered.

In ``rq`` mode the web processes score no comments, and load the model (one torch thread, as
in-process scoring does) for analyze calls alone: with the process's first request when some
active API key has the ``analyze`` scope (``comments.tasks.init_scoring``), when the host API
gives a new key that scope (:func:`preload`), else on the first analyze call (which answers 503
with Retry-After while the model loads). ``off`` has no classifier: analyze calls are refused.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import current_app

from comments.classifier import Classifier, ClassifierUnavailable, WindowedClassifier, planner
from comments.tasks.background import BackgroundThread
from comments.tasks.holder import ClassifierHolder

log = logging.getLogger(__name__)

__all__ = [
    "Analysis",
    "AnalysisTimeout",
    "PipelineClassifier",
    "SharedScorer",
    "Span",
    "analyze",
]

EXTENSION = "comments.analyzer"


@dataclass(frozen=True)
class Span:
    """One window the model scored: ``text[begin:end]`` (Python ``str`` indices, i.e. code
    points) and its scores. Consecutive windows of a long text overlap."""

    begin: int
    end: int
    scores: dict[str, float]


@dataclass(frozen=True)
class Analysis:
    """A text's scores: ``summary`` as the comment pipeline computes them (each label's maximum
    over the windows), ``spans`` one per window, in text order."""

    summary: dict[str, float]
    spans: list[Span]


class AnalysisTimeout(ClassifierUnavailable):
    """No answer within the caller's timeout (the model is busy); the call's work is dropped."""


def analyze(texts: Sequence[str], *, timeout: float) -> list[Analysis]:
    """Score ``texts`` with the current app's model, batched with concurrent calls.

    Raises :class:`~comments.classifier.ClassifierUnavailable` when the model is not loaded
    (not yet, or it failed, or scoring is off), and :class:`AnalysisTimeout` (a subclass) when
    no answer came within ``timeout`` seconds.
    """
    scorer: SharedScorer | None = current_app.extensions.get(EXTENSION)
    if scorer is None:
        raise ClassifierUnavailable("no classifier: COMMENTS_SCORING_MODE is off")
    return scorer.analyze(texts, timeout=timeout)


def preload() -> None:
    """Start loading the current app's model in the background, if it has one and it is not
    loaded: a key that may call analyze now exists, and its first call should not wait."""
    scorer = current_app.extensions.get(EXTENSION)
    if isinstance(scorer, SharedScorer):
        scorer.preload()


@dataclass(eq=False)
class _Job:
    kind: Literal["analyze", "pipeline"]
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    analyses: list[Analysis] | None = None
    scores: list[dict[str, float]] | None = None
    error: ClassifierUnavailable | None = None
    # A pipeline job's windows, once cut (its passes run one per turn):
    plan: planner.Plan | None = None
    remaining: list[int] = field(default_factory=list)
    rows: list[list[list[float]]] = field(default_factory=list)

    def fail(self, error: ClassifierUnavailable) -> None:
        self.error = error
        self.done.set()


class SharedScorer(BackgroundThread):
    """One per process: every forward pass of the process's model, taken in turns (module doc)."""

    thread_name = "comments-analyzer"
    #: While analyze calls are made, a pipeline pass takes at most about this long (at least one
    #: window), which is what an analyze call may have to wait for before its own batch starts.
    SLICE_SECONDS = 0.1
    #: How long after the last analyze call the pipeline's passes are kept that short.
    ACTIVE_SECONDS = 60.0

    def __init__(self, config: Any, classifier: Classifier | None = None, *, default_threads: int | None = None):
        super().__init__()
        #: the process's model; what its get() hands out (to the pipeline) scores through here
        self.holder = ClassifierHolder(config, classifier, default_threads=default_threads, wrap=self.wrap)
        self._cond = threading.Condition()
        self._analyze: deque[_Job] = deque()
        self._pipeline: deque[_Job] = deque()
        self._pipeline_turn = False
        self._last_analyze = -math.inf
        self._loader: threading.Thread | None = None
        #: measured seconds per token's worth of compute (pass cost included), for the slices
        self.seconds_per_token: float | None = None
        #: passes run, by kind, texts analyzed and analyze calls received (tests and the benchmark read them)
        self.passes = {"analyze": 0, "pipeline": 0}
        self.analyzed = 0
        self.calls = 0

    # --- callers ------------------------------------------------------------------------------
    def analyze(self, texts: Sequence[str], *, timeout: float) -> list[Analysis]:
        """See :func:`analyze`."""
        texts = _strings(texts)
        self._model()
        if not texts:
            return []
        job = _Job("analyze", texts)
        self._submit(job)
        if not job.done.wait(timeout):
            with self._cond:
                job.cancelled = True  # dropped if not started; a batch already running finishes
            raise AnalysisTimeout(f"the classifier did not answer within {timeout:g} s")
        if job.error is not None:
            raise job.error
        assert job.analyses is not None
        return job.analyses

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """The pipeline's scores (``Classifier.score``), taking turns with analyze calls."""
        texts = _strings(texts)
        if not texts:
            return []
        job = _Job("pipeline", texts)
        self._submit(job)
        while not job.done.wait(1.0):
            self.start()  # (the thread is restarted should it have died)
        if job.error is not None:
            raise job.error
        assert job.scores is not None
        return job.scores

    def wrap(self, classifier: Classifier) -> Classifier:
        """The front the pipeline scores through (``ClassifierHolder(wrap=...)``)."""
        return PipelineClassifier(self, classifier)

    def preload(self) -> None:
        """Load the model in the background now, not on the first analyze call."""
        with self._cond:
            if self._loader is not None and self._loader.is_alive():
                return
            self._loader = threading.Thread(target=self.holder.get, name="comments-analyzer-load", daemon=True)
            self._loader.start()

    @property
    def state(self) -> str:
        """The holder's ("not_loaded", "loading", "loaded", "failed: …"); "loading" from the moment
        :meth:`preload` is called, before its thread has taken the holder's lock."""
        state = self.holder.state
        loader = self._loader
        if state == "not_loaded" and loader is not None and loader.is_alive():
            return "loading"
        return state

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
        with self._cond:
            jobs = [*self._analyze, *self._pipeline]
            self._analyze.clear()
            self._pipeline.clear()
        for job in jobs:
            job.fail(ClassifierUnavailable("the scorer was stopped"))

    def _model(self) -> Classifier:
        classifier, error = self.holder.loaded()
        if classifier is None:
            self.preload()  # returns at once: this call is answered "unavailable" meanwhile
            raise ClassifierUnavailable(
                f"the classifier is not loaded: {error}" if error else "the classifier is loading"
            )
        return classifier

    def _submit(self, job: _Job) -> None:
        with self._cond:
            if job.kind == "analyze":
                self._analyze.append(job)
                self._last_analyze = time.monotonic()
                self.calls += 1
            else:
                self._pipeline.append(job)
            self._cond.notify()
        self.start()

    # --- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                batch = self._next_turn()
                if batch is None:
                    self._cond.wait(0.25)
                    continue
            try:
                if batch[0].kind == "analyze":
                    self._run_analyze(batch)
                else:
                    self._run_pipeline_pass(batch[0])
            except Exception as exc:  # the thread must survive anything; its callers hear of it
                log.exception("scoring failed")
                error = (
                    exc if isinstance(exc, ClassifierUnavailable) else ClassifierUnavailable(f"scoring failed: {exc}")
                )
                for job in batch:
                    job.fail(error)
                with self._cond:
                    if batch[0] in self._pipeline:
                        self._pipeline.remove(batch[0])

    def _next_turn(self) -> list[_Job] | None:
        """(Under the lock.) Every waiting analyze call, or the pipeline's oldest call, by turns."""
        while self._analyze and self._analyze[0].cancelled:
            self._analyze.popleft()
        if self._analyze and not (self._pipeline_turn and self._pipeline):
            batch = [job for job in self._analyze if not job.cancelled]
            self._analyze.clear()
            self._pipeline_turn = True
            return batch
        if self._pipeline:
            self._pipeline_turn = False
            return [self._pipeline[0]]
        return None

    def _run_analyze(self, batch: list[_Job]) -> None:
        classifier = self._model()
        self.analyzed += sum(len(job.texts) for job in batch)
        if isinstance(classifier, WindowedClassifier):
            self._analyze_windows(classifier, batch)
            return
        # A classifier that scores whole texts only: one span, the whole text.
        texts = [text for job in batch for text in job.texts]
        scores = classifier.score(texts)
        self.passes["analyze"] += 1
        analyses = [Analysis(summary=s, spans=[Span(0, len(t), s)]) for t, s in zip(texts, scores, strict=True)]
        at = 0
        for job in batch:
            job.analyses = analyses[at : at + len(job.texts)]
            at += len(job.texts)
            job.done.set()

    def _analyze_windows(self, classifier: WindowedClassifier, batch: list[_Job]) -> None:
        """All the batch's windows in shared passes, the shortest first; each call is answered as
        soon as its own windows are scored (a one-line comment does not wait for a long one)."""
        texts = [text for job in batch for text in job.texts]
        work, char_spans = _cut(classifier, texts)
        passes = planner.group_into_passes(
            [len(w) for w in work.windows],
            windows_per_pass=classifier.windows_per_pass,
            window=classifier.window,
            pass_cost_tokens=classifier.pass_cost_tokens,
        )
        job_of_text = [n for n, job in enumerate(batch) for _ in job.texts]
        job_windows: list[list[int]] = [[] for _ in batch]
        for k, owner in enumerate(work.owners):
            job_windows[job_of_text[owner]].append(k)
        waiting = [len(ks) for ks in job_windows]
        rows: list[list[float] | None] = [None] * len(work.windows)
        for chunk in reversed(passes):
            got = self._timed_pass(classifier, [work.windows[k] for k in chunk], "analyze")
            for k, scored in zip(chunk, got, strict=True):
                rows[k] = scored
                n = job_of_text[work.owners[k]]
                waiting[n] -= 1
                if not waiting[n]:
                    self._answer(classifier, batch[n], job_windows[n], work, char_spans, rows)

    @staticmethod
    def _answer(
        classifier: WindowedClassifier,
        job: _Job,
        windows: list[int],
        work: planner.Plan,
        char_spans: list[tuple[int, int]],
        rows: list[list[float] | None],
    ) -> None:
        """Answer ``job`` from its ``windows``' rows: the summary is the pipeline's
        (``planner.reassemble``), a span per window."""
        first_text = work.owners[windows[0]]
        own = planner.Plan(
            windows=[work.windows[k] for k in windows],
            owners=[work.owners[k] - first_text for k in windows],
            passes=[[i] for i in range(len(windows))],
            n_texts=len(job.texts),
        )
        scored = [rows[k] for k in windows]
        summaries = planner.reassemble(own, [[row] for row in scored if row is not None])
        labels = classifier.labels
        spans: list[list[Span]] = [[] for _ in job.texts]
        for k, row in zip(windows, scored, strict=True):
            assert row is not None
            begin, end = char_spans[k]
            clamped = {label: min(1.0, max(0.0, v)) for label, v in zip(labels, row)}
            spans[work.owners[k] - first_text].append(Span(begin, end, clamped))
        job.analyses = [
            Analysis(dict(zip(labels, summary)), text_spans) for summary, text_spans in zip(summaries, spans)
        ]
        job.done.set()

    def _run_pipeline_pass(self, job: _Job) -> None:
        """One pass of the pipeline's oldest call; the call is answered after its last pass."""
        classifier = self._model()
        if not isinstance(classifier, WindowedClassifier):
            job.scores = classifier.score(job.texts)
            self.passes["pipeline"] += 1
            self._finish(job)
            return
        if job.plan is None:
            job.plan = _cut(classifier, job.texts)[0]
            lengths = [len(w) for w in job.plan.windows]
            job.remaining = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
        work = job.plan
        short = time.monotonic() - self._last_analyze < self.ACTIVE_SECONDS
        passes = planner.group_into_passes(
            [len(work.windows[k]) for k in job.remaining],
            windows_per_pass=classifier.windows_per_pass,
            window=classifier.window,
            pass_cost_tokens=classifier.pass_cost_tokens,
            max_padded_tokens=self._slice_tokens(classifier) if short else None,
        )
        chunk = [job.remaining[i] for i in passes[0]]
        job.rows.append(self._timed_pass(classifier, [work.windows[k] for k in chunk], "pipeline"))
        work.passes.append(chunk)
        taken = set(chunk)
        job.remaining = [k for k in job.remaining if k not in taken]
        if not job.remaining:
            job.scores = [dict(zip(classifier.labels, row)) for row in planner.reassemble(work, job.rows)]
            self._finish(job)

    def _finish(self, job: _Job) -> None:
        with self._cond:
            self._pipeline.remove(job)
        job.done.set()

    def _slice_tokens(self, classifier: WindowedClassifier) -> int:
        """Padded tokens a pipeline pass may hold to take about SLICE_SECONDS (one window until
        a pass has been timed)."""
        if self.seconds_per_token is None:
            return classifier.window
        return max(1, int(self.SLICE_SECONDS / self.seconds_per_token) - classifier.pass_cost_tokens)

    def _timed_pass(self, classifier: WindowedClassifier, windows: list[list[int]], kind: str) -> list[list[float]]:
        started = time.perf_counter()
        rows = classifier.run_pass(windows)
        seconds = time.perf_counter() - started
        tokens = classifier.pass_cost_tokens + len(windows) * max(len(w) for w in windows)
        measured = seconds / tokens
        previous = self.seconds_per_token
        self.seconds_per_token = measured if previous is None else 0.8 * previous + 0.2 * measured
        self.passes[kind] += 1
        return rows


class PipelineClassifier:
    """The :class:`~comments.classifier.Classifier` the comment pipeline is given in a web process:
    the model's name, version and labels, its ``score()`` through the shared scorer."""

    def __init__(self, scorer: SharedScorer, classifier: Classifier):
        self.scorer = scorer
        self.name = classifier.name
        self.version = classifier.version
        self.labels = classifier.labels

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self.scorer.score(texts)


def _strings(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("takes a sequence of strings, not a single string")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"takes strings, got {type(text).__name__}")
    return texts


def _cut(classifier: WindowedClassifier, texts: list[str]) -> tuple[planner.Plan, list[tuple[int, int]]]:
    """Every window of ``texts`` (no passes yet) and the characters each covers."""
    encoded, offsets = classifier.encode(texts)
    windowing = classifier.windowing
    windows: list[list[int]] = []
    owners: list[int] = []
    spans: list[tuple[int, int]] = []
    for i, (ids, text_offsets) in enumerate(zip(encoded, offsets, strict=True)):
        cut = windowing.split(ids)
        windows += cut
        owners += [i] * len(cut)
        spans += windowing.char_spans(text_offsets, len(texts[i]))
    return planner.Plan(windows=windows, owners=owners, passes=[], n_texts=len(texts)), spans
