"""The statistics of calibration, on their own: no database, no Flask, the standard library only.

What the figures are about. Every estimate here is of what the site's MODERATORS would say, not of
the truth: "precision" is the share of holds a moderator would reject, a "miss" a published comment
a moderator would say should have been held. Moderators who err make the estimates track their
errors (a share p of truly bad comments judged with an error rate e reads p(1-e) + (1-p)e).

Where the numbers come from (one label, one period, each list ``BIN_COUNT`` long, one slot per
0.01 of the label's score; see :class:`LabelData`):

- the machine's holds that a moderator decided (approved or rejected) stand for all the machine's
  holds of their bin. This assumes that whether a hold gets decided does not depend on whether it
  is bad once its bin is known ("missing at random within a bin"): a queue worked in score order or
  at random is fine; moderators who decide the obvious rejections and leave the doubtful ones
  waiting make the precision look better than it is, and no weighting can see that;
- spot checks (a random sample of the machine's published comments, drawn with a known
  probability, :func:`spot_check_probability`) stand for the published comments of their bin,
  weighted by 1/probability (Hajek's ratio estimator within the bin; unanswered spot checks are
  assumed missing at random within the bin too);
- published comments that readers reported and a moderator rejected are counted exactly, once
  (the spot checks stand for the published comments that were not rejected after reports);
- a bin's holds without a decision of their own, or its published comments without a spot check,
  take the share of the narrowest group of bins around them that has some (0.05, 0.10, 0.20, 0.50
  wide, then all): spot checks are sparse far from the thresholds, and dropping a bin's unjudged
  part would leave its other part to speak for the whole bin (a bin's holds, made by other labels,
  are far more often bad than its published comments). This assumes the share bad changes little
  within such a group.

Intervals are Wilson score intervals (95%). For weighted data they use Kish's effective sample
size, n_eff = (sum w)^2 / sum w^2, in place of n: an approximation (it ignores the gain of
stratification and the correlation between a ratio's parts) that is accurate enough for the
question "is this threshold about right", not for publication; the simulator tests
(tests/test_simulation.py) measure how often they cover the truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Final, Literal, get_args

BIN_COUNT: Final = 100
#: Below this many decided comments for a label (decided holds, answered spot checks, rejected
#: reports), its precision, recall, miss share and recommendation are "not enough decisions yet".
MIN_DECISIONS: Final = 30
#: A population stability index at or above this means the label's scores drifted.
DRIFT_PSI: Final = 0.2
#: The share given to an empty group of a histogram in :func:`psi` (its logarithm must exist).
PSI_EPSILON: Final = 1e-4
Z95: Final = 1.96


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _probability(value: float, name: str) -> float:
    value = _finite(value, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value!r}")
    return value


# --- bins -------------------------------------------------------------------------------------------


def bin_floor(bin: int) -> float:
    """The lowest score of ``bin`` (scores in [bin/100, (bin+1)/100), 1.0 in the last bin)."""
    if isinstance(bin, bool) or not isinstance(bin, int) or not 0 <= bin < BIN_COUNT:
        raise ValueError(f"a bin is an integer from 0 to {BIN_COUNT - 1}, not {bin!r}")
    return bin / BIN_COUNT


def score_bin(score: float) -> int:
    """The bin of a score, scores outside [0, 1] clamped into the first or last bin.

    Exact for the policy's comparison ``score >= threshold``: a score is in bin ``b`` or above
    exactly when ``score >= bin_floor(b)`` (0.29 * 100 is 28.999999999999996 in floating point,
    yet 0.29 must fall in bin 29, with the threshold 0.29)."""
    score = _finite(score, "score")
    found = min(max(math.floor(score * BIN_COUNT), 0), BIN_COUNT - 1)
    if found + 1 < BIN_COUNT and score >= bin_floor(found + 1):
        found += 1
    elif found > 0 and score < bin_floor(found):
        found -= 1
    return found


def threshold_bin(threshold: float) -> int:
    """The first bin held at ``threshold``: comments at or over it are those in this bin and above.

    Exact for thresholds on the 0.01 grid (every candidate of :func:`candidate_thresholds`);
    another threshold is read as the floor of its bin (0.875 as 0.87, 1.0 as 0.99)."""
    return score_bin(_probability(threshold, "threshold"))


# --- intervals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% interval, all three shares in [0, 1]."""

    value: float
    low: float
    high: float


def wilson(successes: float, n: float, z: float = Z95) -> Interval | None:
    """Wilson's score interval for ``successes`` out of ``n`` (None when n is 0).

    ``n`` may be fractional (an effective sample size, see :func:`weighted_share`). The value is
    the plain share successes/n; the interval is not centred on it, and stays inside [0, 1] even
    for 0 or n successes, where a normal approximation would not."""
    successes, n, z = _finite(successes, "successes"), _finite(n, "n"), _finite(z, "z")
    if n < 0 or successes < 0 or z <= 0:
        raise ValueError("successes and n must be >= 0 and z > 0")
    if n == 0:
        return None
    # Sums of float weights may pass n by a rounding error; more than that is the caller's mistake.
    if successes > n * (1 + 1e-9):
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    return _wilson(min(successes / n, 1.0), n, z)


def _wilson(share: float, n: float, z: float) -> Interval:
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return Interval(share, max(0.0, centre - half) if share > 0 else 0.0, min(1.0, centre + half) if share < 1 else 1.0)


def weighted_share(bad_w: float, total_w: float, sum_w2: float, z: float = Z95) -> Interval | None:
    """The share bad_w/total_w of weighted observations, with a Wilson interval at Kish's
    effective sample size total_w^2 / sum_w2 (None without observations).

    Equal weights give back the plain Wilson interval; unequal ones shrink n_eff (a sample in which
    a few observations carry most of the weight tells less than its size). An approximation: see the
    module's docstring."""
    bad_w, total_w, sum_w2 = _finite(bad_w, "bad_w"), _finite(total_w, "total_w"), _finite(sum_w2, "sum_w2")
    if bad_w < 0 or total_w < 0 or sum_w2 < 0:
        raise ValueError("weights must be >= 0")
    if _finite(z, "z") <= 0:
        raise ValueError("z must be > 0")
    return _weighted_share(bad_w, total_w, sum_w2, z)


def _weighted_share(bad_w: float, total_w: float, sum_w2: float, z: float = Z95) -> Interval | None:
    if total_w <= 0 or sum_w2 <= 0:
        return None
    return _wilson(min(bad_w / total_w, 1.0), total_w * total_w / sum_w2, z)


# --- one label's data -------------------------------------------------------------------------------


@dataclass
class LabelData:
    """One label's data for a period, binned by that label's score; each list ``BIN_COUNT`` long.

    ``population``, ``held`` and ``published`` count scorings (``score_bins``); the machine rejected
    the rest (reject thresholds), which no estimate here uses. The other lists count evidence
    (``calibration_evidence``) by the bin of the comment's score for this label when it was decided.
    """

    population: list[int]  # comments scored
    held: list[int]  # of which the machine held (for any reason)
    published: list[int]  # of which the machine published
    hold_bad: list[int]  # machine holds decided: rejected
    hold_fine: list[int]  # machine holds decided: approved
    sample_bad_w: list[float]  # spot checks answered "should have been held": sum of 1/probability
    sample_fine_w: list[float]  # spot checks answered "fine": sum of 1/probability
    sample_w2: list[float]  # spot checks answered: sum of (1/probability)^2, both answers
    sample_n: list[int]  # spot checks answered
    report_bad: list[int]  # published, reported by readers, then rejected by a moderator
    holds_by_label_bad: int  # decided holds this label's score was at/over its threshold for: rejected
    holds_by_label_fine: int  # ... approved
    current_threshold: float

    @classmethod
    def empty(cls, current_threshold: float) -> LabelData:
        """A label without data (no comment scored, nothing decided)."""
        return cls(
            population=[0] * BIN_COUNT,
            held=[0] * BIN_COUNT,
            published=[0] * BIN_COUNT,
            hold_bad=[0] * BIN_COUNT,
            hold_fine=[0] * BIN_COUNT,
            sample_bad_w=[0.0] * BIN_COUNT,
            sample_fine_w=[0.0] * BIN_COUNT,
            sample_w2=[0.0] * BIN_COUNT,
            sample_n=[0] * BIN_COUNT,
            report_bad=[0] * BIN_COUNT,
            holds_by_label_bad=0,
            holds_by_label_fine=0,
            current_threshold=current_threshold,
        )

    @property
    def decisions(self) -> int:
        """Decided comments for this label: decided holds, answered spot checks, rejected reports."""
        return sum(self.hold_bad) + sum(self.hold_fine) + sum(self.sample_n) + sum(self.report_bad)

    def check(self) -> None:
        """Raise ValueError unless every list is ``BIN_COUNT`` long and every number finite and >= 0."""
        for name in _BINNED_FIELDS:
            values = getattr(self, name)
            if len(values) != BIN_COUNT:
                raise ValueError(f"{name} has {len(values)} bins, not {BIN_COUNT}")
            # A NaN or an infinity makes the sum so; a negative number shows in the minimum.
            if not math.isfinite(sum(values)) or min(values) < 0:
                raise ValueError(f"{name} holds {values!r}: counts and weights are finite and >= 0")
        for name in ("holds_by_label_bad", "holds_by_label_fine"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        _probability(self.current_threshold, "current_threshold")


#: The fields of LabelData that are one number per bin (all its lists).
_BINNED_FIELDS: Final = tuple(f.name for f in fields(LabelData) if str(f.type).startswith("list["))


def enough_decisions(decisions: int) -> bool:
    """Whether ``decisions`` decided comments are enough to show estimates (``MIN_DECISIONS``)."""
    return decisions >= MIN_DECISIONS


def hold_precision(data: LabelData) -> Interval | None:
    """The share of this label's decided holds that moderators rejected, with Wilson's interval.

    Counts the holds this label's score was at or over its threshold for (other labels may have
    held the same comment). Assumes the decided holds are a random sample of the label's holds."""
    return wilson(data.holds_by_label_bad, data.holds_by_label_bad + data.holds_by_label_fine)


def published_miss_share(
    published: int, report_bad: int, sample_bad_w: float, sample_fine_w: float, sample_w2: float
) -> Interval | None:
    """The estimated share of the machine's published comments that should have been held.

    ``published`` comments, of which ``report_bad`` were rejected after readers reported them
    (counted exactly); spot checks (sums of their weights 1/probability, and of the squared
    weights) stand for the other ``published - report_bad``: share = (report_bad + rest * bad_w /
    (bad_w + fine_w)) / published. Works for a site (every published comment and spot check) or a
    label (:func:`label_miss_share`). None without published comments, or without spot checks
    while some published comments were not reported (their share is then unknown)."""
    published_f, report_f = _finite(published, "the number published"), _finite(report_bad, "report_bad")
    if published_f < 0 or report_f < 0:
        raise ValueError("published and report_bad must be >= 0")
    if published_f == 0:
        return None
    reported = min(report_f / published_f, 1.0)
    if reported == 1.0:
        return Interval(1.0, 1.0, 1.0)
    bad_w, fine_w = _finite(sample_bad_w, "sample_bad_w"), _finite(sample_fine_w, "sample_fine_w")
    rest = weighted_share(bad_w, bad_w + fine_w, sample_w2)
    if rest is None:
        return None

    def scaled(share: float) -> float:  # the reported part is known exactly: the rest's share scaled into the rest
        return reported + (1 - reported) * share

    return Interval(scaled(rest.value), scaled(rest.low), scaled(rest.high))


def label_miss_share(data: LabelData) -> Interval | None:
    """:func:`published_miss_share` of one label's data (all its bins together)."""
    data.check()
    return published_miss_share(
        sum(data.published),
        sum(data.report_bad),
        sum(data.sample_bad_w),
        sum(data.sample_fine_w),
        sum(data.sample_w2),
    )


# --- curves -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    """What holding at ``threshold`` (this label alone) would have done over the period.

    ``hold_rate`` and ``est_held`` are counted (scores are known for every comment); ``precision``
    (share of the comments held at the threshold a moderator would reject), ``recall`` (share of
    the comments a moderator would reject that the threshold holds) and their F1 are estimated,
    None without decisions to estimate from. ``est_bad_held`` = precision x est_held."""

    threshold: float
    hold_rate: float
    precision: Interval | None
    recall: Interval | None
    f1: float | None
    est_held: float
    est_bad_held: float | None


def candidate_thresholds(current: float) -> list[float]:
    """0.05 to 0.95 by 0.05, and by 0.01 within 0.10 of ``current``; within [0.01, 0.99], sorted.

    Thresholds of 0 (hold everything) and 1 (hold nothing) are no recommendation."""
    centre = round(_probability(current, "current threshold") * 100)
    hundredths = set(range(5, 100, 5)) | {h for h in range(centre - 10, centre + 11) if 1 <= h <= 99}
    return [h / 100 for h in sorted(hundredths)]


#: The widths (in bins) of the aligned groups whose evidence stands in for a bin's when the bin has
#: none of its own: 0.05, 0.10, 0.20, 0.50 wide, then the whole range.
POOL_WIDTHS: Final = (1, 5, 10, 20, 50, 100)


@dataclass
class _Cell:
    """The evidence of one group of bins (one bin, or a wider group standing in for bins without
    their own) for one part of the comments (the machine's holds, or its published comments), and
    the bins it stands for: (bin, number of comments)."""

    weight: float  # sum of the observations' weights
    bad: float  # ... of the bad ones
    w2: float  # sum of squared weights
    bad_w2: float  # ... of the bad ones
    users: list[tuple[int, float]]

    def stands_for(self, start: int) -> float:
        return sum(count for b, count in self.users if b >= start)


def _cells(counts: Sequence[float], evidence: Sequence[tuple[float, float, float, float]]) -> list[_Cell]:
    """Each bin with comments of this part gets the evidence of the narrowest group around it that
    has some (its own bin first): the cells used, each with the bins it stands for. Bins whose part
    has no evidence anywhere are left out (unknown)."""
    cells: dict[tuple[int, int], _Cell] = {}
    # Running sums of the evidence (entry b: bins 0..b-1), from which any group's sums follow.
    running = [(0.0, 0.0, 0.0, 0.0)]
    for weight, bad, w2, bad_w2 in evidence:
        last = running[-1]
        running.append((last[0] + weight, last[1] + bad, last[2] + w2, last[3] + bad_w2))
    for b, count in enumerate(counts):
        if count <= 0:
            continue
        for width in POOL_WIDTHS:
            first = b - b % width
            low, high = running[first], running[first + width]
            if high[0] > low[0]:
                key = (width, first)
                if key not in cells:
                    cells[key] = _Cell(high[0] - low[0], high[1] - low[1], high[2] - low[2], high[3] - low[3], [])
                cells[key].users.append((b, count))
                break
    return list(cells.values())


def _parts(data: LabelData) -> tuple[list[_Cell], list[_Cell]]:
    """The cells of the machine's holds (decided holds as evidence, each of weight 1) and of its
    published comments not rejected after reports (answered spot checks, of weight 1/probability).
    Within a bin the bad spot checks' share of the squared weights is taken as their share of the
    weights (weights differ within a bin only by band)."""
    hold_evidence = [
        (float(bad + fine), float(bad), float(bad + fine), float(bad))
        for bad, fine in zip(data.hold_bad, data.hold_fine)
    ]
    sample_evidence = [
        (bad + fine, bad, w2, w2 * bad / (bad + fine) if bad + fine > 0 else 0.0)
        for bad, fine, w2 in zip(data.sample_bad_w, data.sample_fine_w, data.sample_w2)
    ]
    rest = [max(published - reported, 0) for published, reported in zip(data.published, data.report_bad)]
    # Counts from different tables may disagree at a period's edge (a hold scored before the
    # period, decided within it): a bin's decided holds stand for at least themselves.
    holds = [max(held, bad + fine) for held, bad, fine in zip(data.held, data.hold_bad, data.hold_fine)]
    return _cells(holds, hold_evidence), _cells(rest, sample_evidence)


def curve(data: LabelData, thresholds: Sequence[float]) -> list[CurvePoint]:
    """One :class:`CurvePoint` per threshold, in the order given; [] when no comment was scored.

    Estimated bad comments at/over t: in each bin, the machine's holds times the share of the
    decided ones rejected, plus its published comments (less those rejected after reports) times
    the weighted share of spot checks answered "should have been held", plus the rejected reports.
    A part of a bin without evidence of its own borrows the share of the narrowest group of bins
    around it that has some (``POOL_WIDTHS``): leaving it out would tilt a bin towards its other
    part (a bin's holds, made by other labels, are far more often bad than its published comments).
    A part without evidence in any bin is left out. Precision at t: estimated bad over the comments
    estimated, at/over t; recall at t: estimated bad at/over t over estimated bad in all bins. Their
    intervals: Kish-Wilson, each observation weighing the comments it stands for."""
    data.check()
    starts = [threshold_bin(t) for t in thresholds]
    population = sum(data.population)
    if population == 0:
        return []
    parts = _parts(data)
    # Sums from each bin to the top (entry b: bins b..BIN_COUNT-1) of the comments, the comments
    # estimated and the estimated bad ones.
    above, judged, bad = ([0.0] * (BIN_COUNT + 1) for _ in range(3))
    known, bad_known = [0.0] * BIN_COUNT, [0.0] * BIN_COUNT
    for cells in parts:
        for cell in cells:
            for b, count in cell.users:
                known[b] += count
                bad_known[b] += count * cell.bad / cell.weight
    for b in range(BIN_COUNT - 1, -1, -1):
        above[b] = above[b + 1] + data.population[b]
        judged[b] = judged[b + 1] + known[b] + data.report_bad[b]
        bad[b] = bad[b + 1] + bad_known[b] + data.report_bad[b]
    # Squared weights: each observation of a cell weighs (comments it stands for at/over the
    # threshold) / (the cell's weight) times its own weight; rejected reports weigh 1. A cell whose
    # bins all lie at/over a threshold counts whole: summed from its lowest bin up, like the rest;
    # only the few pooled cells a threshold cuts through are counted bin by bin.
    w2_above, bad_w2_above = [0.0] * (BIN_COUNT + 1), [0.0] * (BIN_COUNT + 1)
    w2_at, bad_w2_at = [float(reports) for reports in data.report_bad], [float(r) for r in data.report_bad]
    pooled = []
    for cells in parts:
        for cell in cells:
            share = cell.stands_for(0) / cell.weight
            lowest = cell.users[0][0]
            w2_at[lowest] += share * share * cell.w2
            bad_w2_at[lowest] += share * share * cell.bad_w2
            if len(cell.users) > 1:
                pooled.append(cell)
    for b in range(BIN_COUNT - 1, -1, -1):
        w2_above[b] = w2_above[b + 1] + w2_at[b]
        bad_w2_above[b] = bad_w2_above[b + 1] + bad_w2_at[b]

    def squared_weights(start: int) -> float:
        total = w2_above[start]
        for cell in pooled:
            if cell.users[0][0] < start <= cell.users[-1][0]:
                share = cell.stands_for(start) / cell.weight
                total += share * share * cell.w2
        return total

    all_bad_w2 = bad_w2_above[0]
    points = []
    for threshold, start in zip(thresholds, starts):
        precision = _weighted_share(bad[start], judged[start], squared_weights(start))
        recall = _weighted_share(bad[start], bad[0], all_bad_w2)
        points.append(
            CurvePoint(
                threshold=float(threshold),
                hold_rate=above[start] / population,
                precision=precision,
                recall=recall,
                f1=_f1(precision, recall),
                est_held=above[start],
                est_bad_held=None if precision is None else precision.value * above[start],
            )
        )
    return points


def _f1(precision: Interval | None, recall: Interval | None) -> float | None:
    if precision is None or recall is None:
        return None
    total = precision.value + recall.value
    return 0.0 if total == 0 else 2 * precision.value * recall.value / total


# --- objectives and recommendations -------------------------------------------------------------------

ObjectiveKind = Literal["precision", "hold_rate", "balance"]
OBJECTIVE_KINDS: Final[tuple[ObjectiveKind, ...]] = get_args(ObjectiveKind)


def _check_target(kind: object, target: object) -> float | None:
    if kind not in OBJECTIVE_KINDS:
        raise ValueError(f"the objective's kind must be one of {', '.join(OBJECTIVE_KINDS)}, not {kind!r}")
    if kind == "balance":
        if target is not None:
            raise ValueError("the balance objective (best F1) takes no target")
        return None
    if target is None:
        raise ValueError(f"the {kind} objective needs a target")
    if isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target):
        raise ValueError(f"the {kind} objective's target must be a finite number, not {target!r}")
    if kind == "precision" and not 0 < target <= 1:
        raise ValueError(f"a precision target is a share of holds rejected, above 0 and at most 1, not {target!r}")
    if kind == "hold_rate" and not 0 <= target <= 1:
        raise ValueError(f"a hold_rate target is a share of comments held, from 0 to 1, not {target!r}")
    return float(target)


@dataclass(frozen=True)
class Objective:
    """What a site wants from a label's threshold.

    ``precision``: at least ``target`` of holds rejected, as much recall as that allows;
    ``hold_rate``: hold at most ``target`` of comments, as much recall as that allows;
    ``balance``: the best F1 of precision and recall (no target)."""

    kind: ObjectiveKind
    target: float | None = None

    def __post_init__(self) -> None:
        _check_target(self.kind, self.target)

    def to_dict(self) -> dict[str, object]:
        """The form :func:`parse_objective` reads (settings, the API)."""
        return {"kind": self.kind, "target": self.target}


def parse_objective(value: Mapping[str, object] | str) -> Objective:
    """The one parser of an objective: ``{"kind": "precision", "target": 0.9}``,
    ``{"kind": "hold_rate", "target": 0.05}``, ``{"kind": "balance"}`` (or the bare string
    ``"balance"``). Raises ValueError saying what is wrong."""
    if isinstance(value, str):
        kind: object = value
        target: object = None
    elif isinstance(value, Mapping):
        unknown = sorted(map(str, set(value) - {"kind", "target"}))
        if unknown:
            raise ValueError(f"an objective has a kind and a target, not {', '.join(unknown)}")
        if "kind" not in value:
            raise ValueError("the objective needs a kind: one of " + ", ".join(OBJECTIVE_KINDS))
        kind, target = value["kind"], value.get("target")
    else:
        raise ValueError(f'an objective is an object such as {{"kind": "precision", "target": 0.9}}, not {value!r}')
    checked = _check_target(kind, target)
    return Objective(kind, checked)  # type: ignore[arg-type]  # _check_target checked the kind


#: The reasons a :class:`Recommendation` gives, and their plain words.
RECOMMENDATION_REASONS: Final[dict[str, str]] = {
    "meets_target": "The lowest threshold that meets the target",
    "best_balance": "The threshold with the best balance of precision and recall (F1)",
    "target_unreachable": "No threshold meets the target; the closest is shown",
    "not_enough_decisions": "Not enough decisions yet",
    "no_estimates": "No decided comments to estimate from",
    "nothing_rejected": "Moderators rejected none of the decided comments: there is nothing to balance",
    "no_data": "No comments scored in this period",
}


@dataclass(frozen=True)
class Recommendation:
    """A threshold for a label (None: nothing to apply), whether it meets the objective, why
    (a key of ``RECOMMENDATION_REASONS``) and the curve's point it stands on (when the objective
    cannot be met: the point closest to it, for showing, not applying)."""

    threshold: float | None
    meets_objective: bool
    reason: str
    point: CurvePoint | None


def recommend(points: Sequence[CurvePoint], objective: Objective, current: float) -> Recommendation:
    """The threshold the curve recommends for ``objective`` (ties: the one nearest ``current``).

    precision: the lowest threshold whose estimated precision reaches the target (the most recall);
    hold_rate: the lowest threshold whose hold rate is at most the target;
    balance: the threshold with the best F1.
    Uses point estimates: an interval wide enough to matter is the report's to show."""
    current = _probability(current, "current threshold")
    ordered = sorted(points, key=lambda point: point.threshold)
    if not ordered:
        return Recommendation(None, False, "no_data", None)

    def nearest(candidates: Iterable[CurvePoint]) -> CurvePoint:
        return min(candidates, key=lambda point: (abs(point.threshold - current), point.threshold))

    if objective.kind == "hold_rate":
        assert objective.target is not None
        meeting = [p for p in ordered if p.hold_rate <= objective.target]
        if meeting:
            return Recommendation(meeting[0].threshold, True, "meets_target", meeting[0])
        lowest = min(p.hold_rate for p in ordered)
        return Recommendation(None, False, "target_unreachable", nearest(p for p in ordered if p.hold_rate == lowest))
    if objective.kind == "precision":
        assert objective.target is not None
        estimated = [p for p in ordered if p.precision is not None]
        if not estimated:
            return Recommendation(None, False, "no_estimates", None)
        meeting = [p for p in estimated if p.precision is not None and p.precision.value >= objective.target]
        if meeting:
            return Recommendation(meeting[0].threshold, True, "meets_target", meeting[0])
        highest = max(p.precision.value for p in estimated if p.precision is not None)
        closest = nearest(p for p in estimated if p.precision is not None and p.precision.value == highest)
        return Recommendation(None, False, "target_unreachable", closest)
    scored = [p for p in ordered if p.f1 is not None]
    if not scored:
        # Precision without recall: decided comments, none of them bad.
        reason = "nothing_rejected" if any(p.precision is not None for p in ordered) else "no_estimates"
        return Recommendation(None, False, reason, None)
    best_f1 = max(p.f1 for p in scored if p.f1 is not None)
    best = nearest(p for p in scored if p.f1 is not None and p.f1 >= best_f1 - 1e-12)
    return Recommendation(best.threshold, True, "best_balance", best)


# --- one label, all together ------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSummary:
    """Everything the report shows for one label, "not enough decisions yet" applied in one place.

    Below ``MIN_DECISIONS`` (``enough_decisions`` False) the estimated figures are None: the
    precision of holds, the miss share, each point's precision, recall and F1, and the
    recommendation (reason "not_enough_decisions") unless the objective is a hold rate, which the
    scores alone answer. Counted figures (hold rates, comments held) are always there."""

    decisions: int
    enough_decisions: bool
    holds_decided: int  # decided holds this label held
    # The share of those a moderator rejected, as decided (:func:`hold_precision`); the curve's
    # point at the current threshold re-weights the same decisions bin by bin (``current.precision``),
    # which stays right when moderators decide some scores more often than others.
    hold_precision: Interval | None
    miss_share: Interval | None
    current: CurvePoint | None  # the curve at the current threshold (None: no comment scored)
    points: list[CurvePoint]
    recommendation: Recommendation


def _without_estimates(point: CurvePoint) -> CurvePoint:
    return replace(point, precision=None, recall=None, f1=None, est_bad_held=None)


def summarize(data: LabelData, objective: Objective, thresholds: Sequence[float] | None = None) -> LabelSummary:
    """One label's figures, its curve over ``thresholds`` (default: :func:`candidate_thresholds`
    around the current threshold) and its recommendation for ``objective``."""
    data.check()
    if thresholds is None:
        thresholds = candidate_thresholds(data.current_threshold)
    decisions = data.decisions
    enough = enough_decisions(decisions)
    points = curve(data, [*thresholds, data.current_threshold])
    current = points.pop() if points else None
    if not enough:
        points = [_without_estimates(point) for point in points]
        current = None if current is None else _without_estimates(current)
    if not points:
        recommendation = Recommendation(None, False, "no_data", None)
    elif enough or objective.kind == "hold_rate":
        recommendation = recommend(points, objective, data.current_threshold)
    else:
        recommendation = Recommendation(None, False, "not_enough_decisions", None)
    return LabelSummary(
        decisions=decisions,
        enough_decisions=enough,
        holds_decided=data.holds_by_label_bad + data.holds_by_label_fine,
        hold_precision=hold_precision(data) if enough else None,
        miss_share=label_miss_share(data) if enough else None,
        current=current,
        points=points,
        recommendation=recommendation,
    )


# --- drift ------------------------------------------------------------------------------------------


def psi(reference: Sequence[float], current: Sequence[float], bins: int = 10) -> float | None:
    """The population stability index of two histograms of one label's scores (each list a count
    per score bin), regrouped into ``bins`` groups of equal width: sum over groups of
    (c - r) * ln(c / r), r and c the groups' shares, an empty group counted as ``PSI_EPSILON``.
    None when either histogram is empty (no drift to speak of). 0 means the same shape; 0.1 a
    shift worth a look; ``DRIFT_PSI`` (0.2) and more a drift."""
    if len(reference) != len(current) or not reference:
        raise ValueError("the two histograms must have the same, non-zero, number of bins")
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= len(reference):
        raise ValueError(f"bins must be an integer from 1 to {len(reference)}, not {bins!r}")
    groups = []
    for histogram in (reference, current):
        grouped = [0.0] * bins
        for index, count in enumerate(histogram):
            if not (count >= 0 and math.isfinite(count)):
                raise ValueError(f"a histogram holds {count!r}: counts are finite and >= 0")
            grouped[index * bins // len(histogram)] += count
        groups.append(grouped)
    totals = [sum(grouped) for grouped in groups]
    if not all(totals):
        return None
    stability = 0.0
    for r_count, c_count in zip(*groups):
        r = max(r_count / totals[0], PSI_EPSILON)
        c = max(c_count / totals[1], PSI_EPSILON)
        stability += (c - r) * math.log(c / r)
    return stability


def drifted(index: float | None) -> bool:
    return index is not None and index >= DRIFT_PSI


# --- spot checks --------------------------------------------------------------------------------------

SpotCheckBand = Literal["far", "near", "edge"]
#: (band, closeness below which a comment is in it, multiplier of the rate). Most clean comments are
#: far from every threshold, so the overall sampling rate stays near the site's rate while the
#: comments the thresholds are about (near and at the edge) are sampled more.
SPOT_CHECK_BANDS: Final[tuple[tuple[SpotCheckBand, float, float], ...]] = (
    ("far", 0.3, 0.5),
    ("near", 0.7, 2.0),
    ("edge", math.inf, 6.0),
)


def closeness(scores: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
    """How close a comment came to being held: the largest score/threshold over the labels that
    have both (0 without any; infinite for a threshold of 0)."""
    nearest = 0.0
    for label, score in scores.items():
        threshold = thresholds.get(label)
        if threshold is None:
            continue
        # Once per published comment: the plain test of _finite, without its messages' cost.
        if not (isinstance(score, int | float) and isinstance(threshold, int | float)):
            raise ValueError(f"the score and threshold of {label} must be numbers")
        if not (math.isfinite(score) and math.isfinite(threshold)):
            raise ValueError(f"the score and threshold of {label} must be finite, not {score!r} and {threshold!r}")
        if threshold <= 0:
            return math.inf
        if score > nearest * threshold:
            nearest = score / threshold
    return nearest


def spot_check_probability(
    scores: Mapping[str, float], thresholds: Mapping[str, float], rate: float
) -> tuple[float, SpotCheckBand]:
    """The probability with which a published comment is drawn for a spot check, and its band.

    Stratified by :func:`closeness`: "far" (< 0.3) at half the rate, "near" (< 0.7) at twice, "edge"
    at six times, never above 1. A rate of 0 draws nothing (probability 0, the band still told)."""
    rate = _probability(rate, "spot-check rate")
    ratio = closeness(scores, thresholds)
    band, _, multiplier = next(entry for entry in SPOT_CHECK_BANDS if ratio < entry[1] or entry is SPOT_CHECK_BANDS[-1])
    return min(1.0, rate * multiplier), band
