"""Scoring with the test model: separation, long texts, batching, threads, failures."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from comments.classifier import DETOXIFY_LABELS, ClassifierUnavailable, load_classifier
from comments.classifier.planner import PASS_COST_BOUNDS

TOXIC_TAIL = "You are a stupid idiot and your comment is garbage."


def _filler(clf, sentences: list[str], min_tokens: int) -> str:
    """Clean sentences (in a fixed order) until the text is at least ``min_tokens`` long."""
    parts: list[str] = []
    i = 0
    while (
        len(clf.detoxify.tokenizer(" ".join(parts), add_special_tokens=False, verbose=False)["input_ids"]) < min_tokens
    ):
        parts.append(sentences[(i * 7) % len(sentences)])
        i += 1
    return " ".join(parts)


def _n_tokens(clf, text: str) -> int:
    return len(clf.detoxify.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def test_separates_heldout_clean_and_toxic(fp32_classifier, heldout: dict[str, list[str]]):
    results = fp32_classifier.score(heldout["clean"] + heldout["toxic"])
    clean = [r["toxicity"] for r in results[: len(heldout["clean"])]]
    toxic = [r["toxicity"] for r in results[len(heldout["clean"]) :]]
    assert max(clean) < 0.2, clean
    assert min(toxic) > 0.8, toxic


def test_result_shape_and_types(fp32_classifier, heldout: dict[str, list[str]]):
    texts = [heldout["toxic"][0], heldout["clean"][0], "", "   ", "¿Qué tal? 😀 — ok"]
    results = fp32_classifier.score(texts)
    assert len(results) == len(texts)
    for r in results:
        assert tuple(r) == DETOXIFY_LABELS
        assert all(type(v) is float and 0.0 <= v <= 1.0 for v in r.values())
    # order is preserved although inputs are sorted by length internally
    assert results[0]["toxicity"] > 0.8 and results[1]["toxicity"] < 0.2
    again = fp32_classifier.score(texts[:2])  # different batch: equal up to float rounding
    assert all(abs(a[k] - b[k]) < 1e-5 for a, b in zip(again, results[:2]) for k in a)


def test_same_scores_as_detoxify_predict(fp32_classifier, heldout: dict[str, list[str]]):
    texts = heldout["clean"][:3] + heldout["toxic"][:3]
    ours = fp32_classifier.score(texts)
    for text, mine in zip(texts, ours):
        theirs = fp32_classifier.detoxify.predict(text)
        assert max(abs(mine[k] - theirs[k]) for k in DETOXIFY_LABELS) < 1e-4


def test_pass_size_and_padding_do_not_change_scores(classifier_settings: dict[str, Any], fp32_classifier, heldout):
    texts = heldout["clean"] + heldout["toxic"]
    one_by_one = load_classifier({**classifier_settings, "CLASSIFIER_WINDOWS_PER_PASS": 1}).score(texts)
    batched = fp32_classifier.score(texts)
    for a, b in zip(one_by_one, batched):
        assert max(abs(a[k] - b[k]) for k in a) < 1e-4


def test_empty_input_and_wrong_types(fp32_classifier):
    assert fp32_classifier.score([]) == []
    assert fp32_classifier.score(()) == []
    with pytest.raises(TypeError):
        fp32_classifier.score("a single string")
    with pytest.raises(TypeError):
        fp32_classifier.score(["fine", None])


def test_toxic_tail_after_2000_clean_tokens_is_caught(fp32_classifier, clean_train_sentences):
    clf = fp32_classifier
    assert clf.window == 512
    filler = _filler(clf, clean_train_sentences, 2000)
    text = f"{filler} {TOXIC_TAIL}"
    assert _n_tokens(clf, filler) >= 2000

    filler_score, tail_score = (r["toxicity"] for r in clf.score([filler, text]))
    assert filler_score < 0.5  # the clean part alone is not toxic ...
    assert tail_score > 0.8  # ... and the toxic sentence at its end is found
    # Detoxify.predict truncates at 512 tokens and never sees the tail
    assert clf.detoxify.predict(text)["toxicity"] < 0.5


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_toxic_sentence_anywhere_in_a_long_text(fp32_classifier, clean_train_sentences, where):
    clf = fp32_classifier
    head = _filler(clf, clean_train_sentences, {"start": 0, "middle": 1100, "end": 1900}[where])
    tail = _filler(clf, clean_train_sentences[::-1], {"start": 1900, "middle": 800, "end": 0}[where])
    text = " ".join(p for p in (head, TOXIC_TAIL, tail) if p)
    assert clf.score([text])[0]["toxicity"] > 0.8


def test_the_pass_cost_is_measured_for_the_loaded_model(fp32_classifier):
    """How the planner groups windows into passes (tests/classifier/test_planner.py) depends on
    this measurement; the model's window and special tokens shape the windows."""
    clf = fp32_classifier
    assert PASS_COST_BOUNDS[0] <= clf.pass_cost_tokens <= PASS_COST_BOUNDS[1]
    tok = clf.detoxify.tokenizer
    assert (clf.windowing.window, clf.windowing.prefix, clf.windowing.suffix) == (
        512,
        (tok.cls_token_id,),
        (tok.sep_token_id,),
    )


def test_concurrent_scoring_from_four_threads(fp32_classifier, heldout, clean_train_sentences):
    clf = fp32_classifier
    long_text = _filler(clf, clean_train_sentences, 700) + " " + TOXIC_TAIL
    batches = [
        heldout["clean"] + heldout["toxic"],
        heldout["toxic"][::-1],
        [long_text, heldout["clean"][0]],
        heldout["clean"][::2],
    ]
    expected = [clf.score(b) for b in batches]
    errors: list[BaseException] = []
    results: dict[int, list] = {}
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                got = clf.score(batches[i])
                assert all(abs(g[k] - e[k]) < 1e-5 for g, e in zip(got, expected[i]) for k in g)
            results[i] = got
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(results) == [0, 1, 2, 3]


def test_scoring_errors_are_wrapped(fp32_classifier, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(fp32_classifier.detoxify.model, "forward", broken)
    with pytest.raises(ClassifierUnavailable, match="boom") as info:
        fp32_classifier.score(["anything"])
    assert isinstance(info.value.__cause__, RuntimeError)
    monkeypatch.undo()
    assert fp32_classifier.score(["anything"])  # and it recovers
