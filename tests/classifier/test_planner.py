"""The window-and-pass planner: pure inputs -> plan, no model needed."""

from __future__ import annotations

from itertools import pairwise

import pytest

from comments.classifier.planner import (
    PASS_COST_BOUNDS,
    ROWS_PER_WINDOW,
    WINDOW_OVERLAP,
    Plan,
    Windowing,
    group_into_passes,
    pass_cost_from_timings,
    plan,
    reassemble,
)

CLS, SEP = 101, 102
BERT = Windowing(512, (CLS,), (SEP,))
BODY = 510


def bodies(windows: list[list[int]]) -> list[list[int]]:
    assert all(w[0] == CLS and w[-1] == SEP for w in windows)
    return [w[1:-1] for w in windows]


def test_window_shape():
    assert (BERT.body, BERT.step) == (BODY, BODY - WINDOW_OVERLAP)
    assert Windowing(20, (1,), (2,)).step == 9  # a small window overlaps by half its body at most
    with pytest.raises(ValueError, match="too small"):
        Windowing(9, (1,), (2,))


def test_empty_text_gets_one_window_of_special_tokens():
    assert BERT.split([]) == [[CLS, SEP]]


@pytest.mark.parametrize("n", [1, BODY - 1, BODY])
def test_a_text_that_fits_is_one_window(n: int):
    ids = list(range(n))
    assert BERT.split(ids) == [[CLS, *ids, SEP]]


def test_one_token_over_the_window_makes_a_second_window_that_ends_the_text():
    ids = list(range(BODY + 1))
    first, second = bodies(BERT.split(ids))
    assert first == ids[:BODY]
    assert second == ids[BERT.step :]
    assert len(set(first) & set(second)) >= WINDOW_OVERLAP


@pytest.mark.parametrize("n", [0, 1, BODY - 1, BODY, BODY + 1, BODY + 100, 2 * BODY, 2003, 5000])
def test_windows_cover_every_short_span(n: int):
    """Any sentence of up to WINDOW_OVERLAP tokens lies entirely inside at least one window."""
    ids = list(range(1000, 1000 + n))
    windows = bodies(BERT.split(ids))
    if n == 0:
        assert windows == [[]]
        return
    assert all(0 < len(w) <= BODY for w in windows)
    assert windows[0][0] == ids[0] and windows[-1][-1] == ids[-1]
    assert len(windows) == 1 if n <= BODY else len(windows) == 1 + -(-(n - BODY) // (BODY - WINDOW_OVERLAP))
    spans = [(w[0] - 1000, w[-1] - 1000 + 1) for w in windows]
    for (_a0, a1), (b0, _b1) in pairwise(spans):
        assert a1 - b0 >= WINDOW_OVERLAP
    for start in range(0, max(0, n - WINDOW_OVERLAP) + 1, 7):
        stop = min(n, start + WINDOW_OVERLAP)
        assert any(a <= start and stop <= b for a, b in spans), (n, start)


def passes_of(
    lengths: list[int], windows_per_pass: int = 16, pass_cost_tokens: int = 64, max_padded_tokens: int | None = None
) -> list[list[int]]:
    passes = group_into_passes(
        lengths,
        windows_per_pass=windows_per_pass,
        window=512,
        pass_cost_tokens=pass_cost_tokens,
        max_padded_tokens=max_padded_tokens,
    )
    assert sorted(k for p in passes for k in p) == list(range(len(lengths)))  # every window once
    for p in passes:
        assert lengths[p[0]] == max(lengths[k] for k in p)  # longest first: it sets the pass's width
        assert len(p) == 1 or len(p) * lengths[p[0]] <= windows_per_pass * 512
        assert len(p) <= ROWS_PER_WINDOW * windows_per_pass
    return passes


def _word_offsets(n: int) -> list[tuple[int, int]]:
    """Offsets of n one-character tokens separated by spaces: token k is at 2k."""
    return [(2 * k, 2 * k + 1) for k in range(n)]


@pytest.mark.parametrize("n", [0, 1, BODY, BODY + 1, 2003])
def test_char_spans_follow_the_windows_tokens_and_cover_the_text(n: int):
    offsets = _word_offsets(n)
    length = max(0, 2 * n - 1) + 3  # and three trailing spaces
    spans = BERT.char_spans(offsets, length)
    starts = BERT.starts(n)
    assert len(spans) == len(starts) == len(BERT.split(list(range(n))))
    assert spans[0][0] == 0 and spans[-1][1] == length
    for k, (s, (begin, end)) in enumerate(zip(starts, spans)):
        last = min(s + BODY, n) - 1
        if k:
            assert begin == 2 * s  # the window's first token
        if k < len(spans) - 1:
            assert end == 2 * last + 1  # the window's last token
    for (b1, e1), (b2, e2) in pairwise(spans):
        assert b1 < b2 < e1 < e2  # overlapping, in order


def test_a_token_budget_makes_shorter_passes():
    lengths = [100] * 20
    assert [len(p) for p in passes_of(lengths, windows_per_pass=16)] == [20]
    short = passes_of(lengths, windows_per_pass=16, max_padded_tokens=300)
    assert len(short) == 7 and max(map(len, short)) == 3
    assert [len(p) for p in passes_of([512, 512], windows_per_pass=16, max_padded_tokens=1)] == [1, 1]


def test_no_windows_no_passes():
    assert passes_of([]) == []


def test_full_windows_fill_a_pass_up_to_its_size():
    passes = passes_of([512] * 40, windows_per_pass=16)
    assert [len(p) for p in passes] == [16, 16, 8]


def test_one_window_per_pass_when_the_size_is_one():
    assert [len(p) for p in passes_of([512, 300, 12], windows_per_pass=1)] == [1, 1, 1]


def test_many_tiny_texts_are_packed_densely_up_to_the_row_limit():
    passes = passes_of([3] * 1000, windows_per_pass=2, pass_cost_tokens=PASS_COST_BOUNDS[1])
    assert max(map(len, passes)) == ROWS_PER_WINDOW * 2
    assert len(passes) == -(-1000 // (ROWS_PER_WINDOW * 2))


def test_short_windows_are_packed_and_padding_is_limited():
    lengths = [512] * 20 + [300, 290, 250, 100, 90] + [12] * 200 + [5, 3]
    passes = passes_of(lengths)
    biggest: dict[int, int] = {}
    for p in passes:
        biggest[lengths[p[0]]] = max(biggest.get(lengths[p[0]], 0), len(p))
    assert biggest[512] == 16
    assert biggest[12] > 16

    def cost(ps: list[list[int]]) -> int:
        return sum(64 + len(p) * lengths[p[0]] for p in ps)

    order = sorted(range(len(lengths)), key=lambda k: lengths[k], reverse=True)
    naive = [order[i : i + 16] for i in range(0, len(order), 16)]
    assert cost(passes) < cost(naive)


def test_the_pass_cost_decides_between_few_padded_passes_and_many_tight_ones():
    lengths = [40, 38, 35, 30, 22, 20, 15, 12, 9, 5] * 3
    assert len(passes_of(lengths, pass_cost_tokens=PASS_COST_BOUNDS[1])) == 1
    assert len(passes_of(lengths, pass_cost_tokens=PASS_COST_BOUNDS[0])) > 1


def test_the_pass_size_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        group_into_passes([5], windows_per_pass=0, window=512, pass_cost_tokens=8)


def test_plan_keeps_which_text_each_window_came_from():
    huge = list(range(5000))
    work = plan([[1, 2], huge, [], [3]], BERT, windows_per_pass=4, pass_cost_tokens=64)
    n_huge = len(BERT.split(huge))
    assert work.n_texts == 4
    assert work.owners == [0] + [1] * n_huge + [2, 3]
    assert work.windows[0] == [CLS, 1, 2, SEP] and work.windows[-2:] == [[CLS, SEP], [CLS, 3, SEP]]
    assert sorted(k for p in work.passes for k in p) == list(range(len(work.windows)))
    assert all(len(p) <= 4 for p in work.passes if len(work.windows[p[0]]) == 512)
    assert work == plan([[1, 2], huge, [], [3]], BERT, windows_per_pass=4, pass_cost_tokens=64)  # deterministic


def test_reassemble_takes_each_labels_maximum_over_a_texts_windows_in_text_order():
    # windows: text 0 has 0 and 2, text 1 has 1, text 2 has 3; passes visit them out of order
    work = Plan(windows=[[0]] * 4, owners=[0, 1, 0, 2], passes=[[3, 2], [1, 0]], n_texts=3)
    pass_scores = [
        [[0.1, 0.9], [0.6, 0.2]],  # windows 3 and 2
        [[0.3, 0.3], [0.4, 0.5]],  # windows 1 and 0
    ]
    assert reassemble(work, pass_scores) == [[0.6, 0.5], [0.3, 0.3], [0.1, 0.9]]


def test_reassemble_clamps_to_probabilities():
    work = Plan(windows=[[0]], owners=[0], passes=[[0]], n_texts=1)
    assert reassemble(work, [[[1.0000001, -0.0]]]) == [[1.0, 0.0]]


def test_reassemble_refuses_scores_that_do_not_fit_the_plan():
    work = Plan(windows=[[0]] * 2, owners=[0, 1], passes=[[0], [1]], n_texts=2)
    with pytest.raises(ValueError, match="score rows"):
        reassemble(work, [[[0.1]], [[0.2], [0.3]]])
    with pytest.raises(ValueError):
        reassemble(work, [[[0.1]]])  # a pass's scores missing
    with pytest.raises(ValueError, match=r"texts \[1\] got no window scores"):
        reassemble(Plan(windows=[[0]], owners=[0], passes=[[0]], n_texts=2), [[[0.1]]])


def test_pass_cost_from_timings():
    # 1 ms fixed + 0.01 ms per token: 100 tokens' worth of fixed cost
    one = 0.001 + 8 * 0.00001
    many = 0.001 + 256 * 0.00001
    assert pass_cost_from_timings(one, many, small_tokens=8, many_tokens=256) == 100
    # a disturbed measurement (the bigger pass not slower): passes count as dear
    assert pass_cost_from_timings(0.01, 0.009, small_tokens=8, many_tokens=256) == PASS_COST_BOUNDS[1]
    # clamped both ways
    assert pass_cost_from_timings(1e-9, 1.0, small_tokens=8, many_tokens=256) == PASS_COST_BOUNDS[0]
    assert pass_cost_from_timings(10.0, 10.0001, small_tokens=8, many_tokens=256) == PASS_COST_BOUNDS[1]
