"""How texts are cut into token windows and grouped into forward passes: pure, no model needed.

Input: each text's token ids (without special tokens) and the model's window shape. Output: a
:class:`Plan` (every window, the text it belongs to, and which windows share a forward pass);
after the passes, :func:`reassemble` turns the windows' scores back into one score per text
(each label's maximum over the text's windows).

The same inputs always give the same plan; only the grouping into passes depends on the measured
pass cost (:func:`pass_cost_from_timings`), never the scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_WINDOW",
    "PASS_COST_BOUNDS",
    "WINDOW_OVERLAP",
    "Plan",
    "Windowing",
    "group_into_passes",
    "pass_cost_from_timings",
    "plan",
    "reassemble",
]

#: Number of tokens shared by consecutive windows of a long text.
WINDOW_OVERLAP = 64
#: Upper bound on tokens per window (all Detoxify models are 512-token models).
MAX_WINDOW = 512
#: Bounds on the measured fixed cost of a forward pass, in tokens' worth of compute: a measurement
#: disturbed by other work on the machine cannot make batching degenerate (one pass per window,
#: or one huge padded pass).
PASS_COST_BOUNDS = (8, 4096)
#: A pass holds at most this many rows per full window of its token budget: many tiny texts
#: still make passes of bounded size.
ROWS_PER_WINDOW = 8
#: The smallest body (tokens between the special tokens) a window may have.
MIN_BODY = 8


@dataclass(frozen=True)
class Windowing:
    """A model's window: ``window`` tokens in all, ``prefix`` and ``suffix`` special tokens
    (e.g. ``[CLS]`` and ``[SEP]``) around each window's body."""

    window: int
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.body < MIN_BODY:
            raise ValueError(f"model window of {self.window} tokens is too small")

    @property
    def body(self) -> int:
        """Tokens of text per window."""
        return self.window - len(self.prefix) - len(self.suffix)

    @property
    def step(self) -> int:
        """How far apart consecutive windows start (they share ``WINDOW_OVERLAP`` tokens)."""
        return self.body - min(WINDOW_OVERLAP, self.body // 2)

    def starts(self, n_tokens: int) -> list[int]:
        """Where each window of a text of ``n_tokens`` tokens starts (token indices; one window
        for an empty text)."""
        body, step = self.body, self.step
        starts = [0]
        while starts[-1] + body < n_tokens:
            starts.append(starts[-1] + step)
        return starts

    def split(self, ids: Sequence[int]) -> list[list[int]]:
        """Split one text's token ids into windows of at most ``body`` tokens.

        Consecutive windows start ``step`` tokens apart, so they share ``WINDOW_OVERLAP``
        tokens: any sentence of up to that many tokens lies entirely inside one window. The last
        window runs to the end (and may be shorter). Each window gets the special tokens; an
        empty text gets one window of special tokens only, so that every text has a score.
        """
        prefix, suffix = list(self.prefix), list(self.suffix)
        return [prefix + list(ids[s : s + self.body]) + suffix for s in self.starts(len(ids))]

    def char_spans(self, offsets: Sequence[tuple[int, int]], text_length: int) -> list[tuple[int, int]]:
        """The part of the text each window of :meth:`split` scored, as ``(begin, end)`` character
        indices, from the tokenizer's offsets of the text's tokens (one ``(begin, end)`` each).

        A window reaches from its first token's start to its last token's end; the first window
        begins at 0 and the last ends at ``text_length``, so that the spans cover the whole text
        (what lies before the first token or after the last one, spaces, is scored as part of
        them). Consecutive spans overlap as their windows do.
        """
        starts = self.starts(len(offsets))
        spans = []
        for k, s in enumerate(starts):
            last = min(s + self.body, len(offsets)) - 1
            begin = 0 if k == 0 else offsets[s][0]
            end = text_length if k == len(starts) - 1 else offsets[last][1]
            spans.append((begin, end))
        return spans


@dataclass(frozen=True)
class Plan:
    """Every window of a call's texts and the forward passes that score them."""

    #: the token ids of each window, special tokens included
    windows: list[list[int]]
    #: for each window, the index of the text it was cut from
    owners: list[int]
    #: window indices per forward pass, each pass's longest window first
    passes: list[list[int]]
    #: how many texts the plan scores
    n_texts: int


def group_into_passes(
    lengths: Sequence[int],
    *,
    windows_per_pass: int,
    window: int,
    pass_cost_tokens: int,
    max_padded_tokens: int | None = None,
) -> list[list[int]]:
    """Indices of ``lengths`` grouped into forward passes, longest first.

    The lengths are sorted and cut into consecutive passes so as to minimise the estimated cost:
    per pass, a fixed cost (every pass reads all the weights and runs the model's Python code
    once: ``pass_cost_tokens``) plus its padded tokens (rows x longest). Dynamic programming over
    the sorted lengths finds the cheapest cut. A pass holds at most ``windows_per_pass`` full
    windows' worth of padded tokens and at most ``ROWS_PER_WINDOW * windows_per_pass`` rows; a
    single window longer than that budget still gets a pass of its own. ``max_padded_tokens``
    lowers the budget further (a pass that must not take long, see ``comments.tasks.analyzer``).
    """
    if windows_per_pass < 1:
        raise ValueError(f"windows_per_pass must be a positive integer, got {windows_per_pass!r}")
    order = sorted(range(len(lengths)), key=lambda k: lengths[k], reverse=True)
    ordered = [lengths[k] for k in order]
    n = len(ordered)
    budget = windows_per_pass * window
    if max_padded_tokens is not None:
        budget = max(1, min(budget, max_padded_tokens))
    max_rows = ROWS_PER_WINDOW * windows_per_pass
    cost = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        # pass = order[start:end]; its longest window is ordered[start]
        for start in range(end - 1, max(-1, end - 1 - max_rows), -1):
            padded = (end - start) * ordered[start]
            if padded > budget and end - start > 1:
                break
            c = cost[start] + pass_cost_tokens + padded
            if c < cost[end]:
                cost[end], cut[end] = c, start
    passes: list[list[int]] = []
    end = n
    while end > 0:
        passes.append(order[cut[end] : end])
        end = cut[end]
    return passes[::-1]


def plan(
    encoded: Sequence[Sequence[int]], windowing: Windowing, *, windows_per_pass: int, pass_cost_tokens: int
) -> Plan:
    """Cut each text's token ids into windows and group all the windows into forward passes."""
    owners: list[int] = []
    windows: list[list[int]] = []
    for i, ids in enumerate(encoded):
        for w in windowing.split(ids):
            owners.append(i)
            windows.append(w)
    passes = group_into_passes(
        [len(w) for w in windows],
        windows_per_pass=windows_per_pass,
        window=windowing.window,
        pass_cost_tokens=pass_cost_tokens,
    )
    return Plan(windows=windows, owners=owners, passes=passes, n_texts=len(encoded))


def reassemble(plan: Plan, pass_scores: Iterable[Sequence[Sequence[float]]]) -> list[list[float]]:
    """One score row per text: each label's maximum over the text's windows, clamped to [0, 1].

    ``pass_scores`` holds, for each of ``plan.passes`` in order, one row of label scores per
    window of that pass (in the pass's order).
    """
    best: list[list[float] | None] = [None] * plan.n_texts
    for chunk, rows in zip(plan.passes, pass_scores, strict=True):
        if len(rows) != len(chunk):
            raise ValueError(f"a pass of {len(chunk)} windows came back with {len(rows)} score rows")
        for k, row in zip(chunk, rows):
            owner = plan.owners[k]
            current = best[owner]
            best[owner] = list(row) if current is None else [max(a, b) for a, b in zip(current, row)]
    missing = [i for i, row in enumerate(best) if row is None]
    if missing:
        raise ValueError(f"texts {missing} got no window scores")
    return [[min(1.0, max(0.0, v)) for v in row] for row in best if row is not None]


def pass_cost_from_timings(
    one_row_seconds: float, many_rows_seconds: float, *, small_tokens: int, many_tokens: int
) -> int:
    """The fixed cost of a forward pass, in tokens' worth of compute, from two timings.

    ``one_row_seconds`` timed a pass of ``small_tokens`` tokens, ``many_rows_seconds`` one of
    ``many_tokens`` (rows x width): cost = fixed + per_token * tokens. Clamped to
    :data:`PASS_COST_BOUNDS`; a disturbed measurement (the larger pass not slower) counts as
    passes being dear.
    """
    per_token = (many_rows_seconds - one_row_seconds) / (many_tokens - small_tokens)
    low, high = PASS_COST_BOUNDS
    if per_token <= 0:
        return high
    return int(min(high, max(low, round(one_row_seconds / per_token - small_tokens))))
