"""The shared scorer: analyze calls batched across threads, taking turns with the comment pipeline."""

from __future__ import annotations

import threading
import time

import pytest

from comments.classifier import ClassifierUnavailable
from comments.extensions import db as database
from comments.tasks.analyzer import AnalysisTimeout, PipelineClassifier, SharedScorer, analyze
from tests.helpers import FixedClassifier, app_of_its_own

TOXIC = "You are a stupid idiot and I will hurt you"
CLEAN = "Thanks for the thoughtful article about the city budget."
# Long enough for several 512-token windows of the test model, with characters outside ASCII
# (accents, an emoji: one code point, two UTF-16 units) before and inside every window.
LONG = " ".join(f"Crème brûlée nº{i} 😀 was lovely. {CLEAN}" for i in range(120)) + " " + TOXIC


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_summaries_are_the_pipelines_scores_and_spans_cover_the_text(shared_scorer, classifier):
    texts = [TOXIC, CLEAN, LONG, ""]
    analyses = shared_scorer.analyze(texts, timeout=30)
    expected = classifier.score(texts)
    for text, analysis, scores in zip(texts, analyses, expected, strict=True):
        assert analysis.summary == pytest.approx(scores, abs=1e-5)
        spans = analysis.spans
        assert spans[0].begin == 0 and spans[-1].end == len(text)
        for span in spans:
            assert set(span.scores) == set(classifier.labels)
        # the summary is each label's maximum over the windows
        for label in classifier.labels:
            assert analysis.summary[label] == pytest.approx(max(s.scores[label] for s in spans), abs=1e-6)
    assert len(analyses[0].spans) == 1 and analyses[0].spans[0].end == len(TOXIC)
    long_spans = analyses[2].spans
    assert len(long_spans) == len(classifier.windowing.split(classifier.encode([LONG])[0][0])) >= 3
    for before, after in zip(long_spans, long_spans[1:]):
        assert before.begin < after.begin < before.end < after.end  # overlapping windows, in order
    # offsets are code points: a span's text is what its window's tokens were cut from
    last = long_spans[-1]
    assert LONG[last.begin : last.end].endswith(TOXIC)
    assert last.scores["toxicity"] > 0.7 > long_spans[0].scores["toxicity"]


def test_a_window_spans_text_is_the_text_of_its_tokens(shared_scorer, classifier):
    analysis = shared_scorer.analyze([LONG], timeout=30)[0]
    ids, offsets = classifier.encode([LONG])
    second = analysis.spans[1]
    start = classifier.windowing.starts(len(ids[0]))[1]
    body = classifier.windowing.body
    assert second.begin == offsets[0][start][0]
    assert second.end == offsets[0][start + body - 1][1]
    window_text = LONG[second.begin : second.end]
    assert classifier.encode([window_text])[0][0] == ids[0][start : start + body]


def test_concurrent_callers_share_forward_passes(shared_scorer, classifier):
    texts = [f"{CLEAN} ({i})" if i % 2 else f"{TOXIC} ({i})" for i in range(8)]
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = shared_scorer.analyze([texts[i]], timeout=30)[0]

    with classifier._lock:  # the model is busy (as with a rescore in the same process): calls queue up
        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
        for thread in threads:
            thread.start()
        _wait_until(lambda: shared_scorer.calls == len(texts))
    for thread in threads:
        thread.join(30)
    # the first call may have been taken alone before the others came; the rest went as one batch
    assert shared_scorer.passes["analyze"] <= 2
    expected = classifier.score(texts)
    for i, scores in enumerate(expected):
        assert results[i].summary == pytest.approx(scores, abs=1e-5)


def test_in_a_batch_a_short_call_is_answered_before_the_long_ones(shared_scorer, classifier):
    answered: dict[str, float] = {}

    def call(name: str, texts: list[str]) -> None:
        shared_scorer.analyze(texts, timeout=60)
        answered[name] = time.perf_counter()

    long_call = threading.Thread(target=call, args=("long", [f"{LONG} {i}" for i in range(6)]))
    short_call = threading.Thread(target=call, args=("short", [TOXIC]))
    with classifier._lock:  # the model is busy: both calls go into one batch
        first = threading.Thread(target=call, args=("first", [CLEAN]))
        first.start()
        _wait_until(lambda: shared_scorer._last_analyze > 0 and not shared_scorer._analyze)
        long_call.start()
        short_call.start()
        _wait_until(lambda: shared_scorer.calls == 3)
    for thread in (first, long_call, short_call):
        thread.join(60)
    assert shared_scorer.passes["analyze"] > 3  # the second batch took several passes
    assert answered["short"] < answered["long"]


def test_an_analyze_call_does_not_wait_for_the_pipelines_queue(shared_scorer, classifier):
    queue = [f"{LONG} {i}" for i in range(12)]  # a batch of comments worth dozens of windows
    shared_scorer.SLICE_SECONDS = 1e-9  # (this instance's) pipeline passes of one window each
    pipeline, _ = shared_scorer.holder.get()
    assert isinstance(pipeline, PipelineClassifier)
    done = threading.Event()
    scored: list[dict[str, float]] = []
    answered: list[tuple[object, int, bool]] = []

    def run_pipeline() -> None:
        scored.extend(pipeline.score(queue))
        done.set()

    def call() -> None:
        result = shared_scorer.analyze([TOXIC], timeout=30)
        answered.append((result, shared_scorer.passes["pipeline"], done.is_set()))

    worker = threading.Thread(target=run_pipeline)
    caller = threading.Thread(target=call)
    with classifier._lock:  # both wait for the model: the pipeline's call first
        worker.start()
        _wait_until(lambda: len(shared_scorer._pipeline) == 1)
        caller.start()
        _wait_until(lambda: shared_scorer.calls == 1)
    caller.join(30)
    worker.join(60)
    result, pipeline_passes, pipeline_done = answered[0]
    assert result[0].summary["toxicity"] > 0.7
    # answered after the pipeline's pass under way (and the one that may have started while the
    # answer was on its way here), long before the pipeline's call was done
    assert pipeline_passes <= 2 and not pipeline_done
    assert shared_scorer.passes["pipeline"] > 10 * pipeline_passes
    # the pipeline's scores are unchanged by being cut into turns
    for got, expected in zip(scored, classifier.score(queue), strict=True):
        assert got == pytest.approx(expected, abs=1e-5)


def test_the_pipelines_passes_are_short_while_analyze_calls_are_made(shared_scorer, classifier):
    texts = [LONG, LONG + " again"]
    windows = sum(len(classifier.windowing.split(ids)) for ids in classifier.encode(texts)[0])
    pipeline, _ = shared_scorer.holder.get()
    pipeline.score(texts)
    assert shared_scorer.passes["pipeline"] < windows  # no analyze calls: the classifier's own passes
    shared_scorer.SLICE_SECONDS = 1e-9  # (this instance's) passes as short as can be: one window
    shared_scorer.analyze([CLEAN], timeout=30)
    before = shared_scorer.passes["pipeline"]
    pipeline.score(texts)
    assert shared_scorer.passes["pipeline"] - before == windows


def test_a_call_that_times_out_is_dropped(shared_scorer, classifier):
    first: list[object] = []
    with classifier._lock:  # the model is busy with a first call: the next one waits in the queue
        earlier = threading.Thread(target=lambda: first.append(shared_scorer.analyze([TOXIC], timeout=30)))
        earlier.start()
        _wait_until(lambda: shared_scorer._last_analyze > 0 and not shared_scorer._analyze)
        with pytest.raises(AnalysisTimeout, match="did not answer within 0.2 s"):
            shared_scorer.analyze([CLEAN + " (late)"], timeout=0.2)
    earlier.join(30)
    assert first
    assert isinstance(AnalysisTimeout("x"), ClassifierUnavailable)  # the API answers both with 503
    assert shared_scorer.analyze([CLEAN], timeout=30)[0].summary["toxicity"] < 0.3
    assert shared_scorer.analyzed == 2  # the abandoned call was never scored


def test_no_model_loaded_is_unavailable_with_the_reason(tmp_path):
    scorer = SharedScorer({"CLASSIFIER_CHECKPOINT": str(tmp_path / "missing.ckpt"), "CLASSIFIER_ALLOW_UNPINNED": True})
    with pytest.raises(ClassifierUnavailable, match="loading"):
        scorer.analyze([TOXIC], timeout=1)  # answered at once; the load goes on in the background
    assert scorer._loader is not None
    scorer._loader.join(60)
    with pytest.raises(ClassifierUnavailable, match="not loaded: .*missing.ckpt.* not found"):
        scorer.analyze([TOXIC], timeout=1)
    scorer.stop()


def test_a_classifier_without_windows_scores_whole_texts(classifier_config):
    fixed = FixedClassifier({TOXIC: {"toxicity": 0.9, "insult": 0.8}})
    scorer = SharedScorer(classifier_config, fixed)
    try:
        toxic, clean = scorer.analyze([TOXIC, CLEAN], timeout=30)
        assert toxic.summary["toxicity"] == 0.9 and clean.summary["toxicity"] == 0.01
        assert [(s.begin, s.end, s.scores) for s in toxic.spans] == [(0, len(TOXIC), toxic.summary)]
        pipeline, _ = scorer.holder.get()
        assert pipeline.score([TOXIC]) == fixed.score([TOXIC])
    finally:
        scorer.stop()


def test_bad_input_is_a_type_error(shared_scorer):
    with pytest.raises(TypeError):
        shared_scorer.analyze(TOXIC, timeout=1)
    with pytest.raises(TypeError):
        shared_scorer.analyze([TOXIC, 3], timeout=1)
    assert shared_scorer.analyze([], timeout=1) == []


def test_in_process_scoring_shares_the_web_processs_model(tmp_path, classifier_config, db):
    # ``db``: on PostgreSQL the app of its own writes its site "news" into the suite's database,
    # which the fixture empties again for the next test.
    app = app_of_its_own(tmp_path, "inprocess.db", SCORING_MODE="inprocess", **classifier_config)
    scorer = app.extensions["comments.analyzer"]
    assert app.extensions["comments.scoring"].holder is scorer.holder
    with app.app_context():
        with pytest.raises(ClassifierUnavailable, match="loading"):
            analyze([TOXIC], timeout=1)
        scorer._loader.join(60)
        assert analyze([TOXIC], timeout=30)[0].summary["toxicity"] > 0.7
        database.engine.dispose()
    pipeline, _ = scorer.holder.get()
    assert isinstance(pipeline, PipelineClassifier)
    scorer.stop()


def test_rq_mode_loads_the_model_in_the_web_process_for_analyze_calls(rq_app):
    app, _ = rq_app
    scorer = app.extensions["comments.analyzer"]
    assert scorer.holder.loaded() == (None, None)  # nothing loaded until analyze is used
    scorer.preload()
    scorer._loader.join(60)
    with app.app_context():
        toxic, clean = analyze([TOXIC, CLEAN], timeout=30)
    assert toxic.summary["toxicity"] > 0.7 > clean.summary["toxicity"]
    assert scorer.passes == {"analyze": 1, "pipeline": 0}
    scorer.stop()


def test_scoring_off_means_no_analyze(tmp_path, db):
    app = app_of_its_own(tmp_path, "off.db", SCORING_MODE="off")
    with app.app_context():
        with pytest.raises(ClassifierUnavailable, match="off"):
            analyze([TOXIC], timeout=1)
        database.engine.dispose()


# --- rq mode: the web process loads its model when analyze is served -------------------------------


class SlowLoad:
    """``load_classifier`` that waits to be released, then hands over the session's test model: the
    loading state lasts as long as a test needs it to."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, config):
        self.calls += 1
        assert self.release.wait(30)
        return self.classifier


@pytest.fixture()
def slow_load(monkeypatch, classifier):
    import comments.tasks.holder

    load = SlowLoad(classifier)
    monkeypatch.setattr(comments.tasks.holder, "load_classifier", load)
    yield load
    load.release.set()


def _issue_analyze_key(app, scopes=("analyze",)) -> str:
    from comments.models import Site
    from comments.services.apikeys import issue_key

    with app.app_context():
        _, key = issue_key(database.session.query(Site).filter_by(slug="news").one(), "coral", list(scopes))
        database.session.commit()
    return key


def test_rq_mode_loads_the_model_with_the_first_request_when_a_key_may_analyze(rq_app, slow_load, monkeypatch):
    app, _ = rq_app
    # Workers are running (with Redis up; without, the classifier is "unknown"): ready but for this.
    monkeypatch.setattr(type(app.extensions["comments.scoring"]), "state", property(lambda self: "workers: 1"))
    _issue_analyze_key(app)
    scorer = app.extensions["comments.analyzer"]
    assert scorer.state == "not_loaded"  # create_app loads nothing
    client = app.test_client()
    ready = client.get("/readyz")  # a load balancer's first probe: the load starts with it
    assert scorer.state == "loading"
    assert ready.json["checks"]["analyzer"] == "loading"
    assert "analyzer" in ready.json["degraded"] and ready.status_code == 200  # comments are still served
    slow_load.release.set()
    scorer._loader.join(30)
    ready = client.get("/readyz")
    assert ready.json["checks"]["analyzer"] == "loaded"
    assert "analyzer" not in ready.json["degraded"]
    assert slow_load.calls == 1
    scorer.stop()


def test_rq_mode_loads_nothing_while_no_key_may_analyze(rq_app, slow_load):
    app, _ = rq_app
    _issue_analyze_key(app, scopes=("host", "moderate"))
    client = app.test_client()
    ready = client.get("/readyz")
    assert client.get("/healthz").status_code == 200
    assert app.extensions["comments.analyzer"].state == "not_loaded"
    assert ready.json["checks"]["analyzer"] == "not_loaded"
    assert "analyzer" not in ready.json["degraded"]
    assert slow_load.calls == 0


def test_commands_never_load_the_analyze_model(rq_app, slow_load):
    """(`flask comments worker` is a command too: it loads its own model, for comments, not this one.)"""
    app, _ = rq_app
    _issue_analyze_key(app)
    with app.app_context():  # (the suite's app context is pushed: the command must run in this app's)
        result = app.test_cli_runner().invoke(args=["comments", "list-keys", "news"])
    assert result.exit_code == 0, result.output
    assert "analyze" in result.output
    assert app.extensions["comments.analyzer"].state == "not_loaded"
    assert slow_load.calls == 0


def test_a_key_given_the_analyze_scope_through_the_host_api_starts_the_load(rq_app, slow_load):
    app, _ = rq_app
    host_key = _issue_analyze_key(app, scopes=("host",))
    client = app.test_client()
    client.get("/healthz")  # the first request: no key may analyze yet
    scorer = app.extensions["comments.analyzer"]
    assert scorer.state == "not_loaded"
    created = client.post(
        "/api/v1/sites/news/keys",
        json={"label": "coral", "scopes": ["analyze"]},
        headers={"Authorization": f"Bearer {host_key}"},
    )
    assert created.status_code == 201, created.json
    assert scorer.state == "loading"
    slow_load.release.set()
    scorer._loader.join(30)
    assert scorer.state == "loaded"
    scorer.stop()


def test_a_key_added_from_the_command_line_loads_it_with_its_first_call_a_503_with_retry_after(rq_app, slow_load):
    app, _ = rq_app
    client = app.test_client()
    client.get("/healthz")  # the process started before the key existed
    key = _issue_analyze_key(app)  # `flask comments add-key --scope analyze`, another process
    body = {"comment": {"text": TOXIC}, "requestedAttributes": {"TOXICITY": {}}}
    first = client.post(f"/v1alpha1/comments:analyze?key={key}", json=body)
    assert first.status_code == 503
    assert first.json["error"]["status"] == "UNAVAILABLE"
    assert int(first.headers["Retry-After"]) > 0
    scorer = app.extensions["comments.analyzer"]
    assert scorer.state == "loading"
    slow_load.release.set()
    scorer._loader.join(30)
    answer = client.post(f"/v1alpha1/comments:analyze?key={key}", json=body)
    assert answer.status_code == 200, answer.json
    assert answer.json["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.7
    scorer.stop()
