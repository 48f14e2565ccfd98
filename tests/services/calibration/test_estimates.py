"""The statistics of calibration, piece by piece, on numbers worked out by hand or published.

How well the estimates find the truth of a simulated site (coverage of the intervals, the
recommended thresholds, re-weighting, moderators who err) is in tests/test_simulation.py.
"""

from __future__ import annotations

import math
import random

import pytest

from comments.services.calibration import estimates
from comments.services.calibration.estimates import (
    BIN_COUNT,
    MIN_DECISIONS,
    CurvePoint,
    Interval,
    LabelData,
    Objective,
    candidate_thresholds,
    curve,
    parse_objective,
    psi,
    published_miss_share,
    recommend,
    score_bin,
    spot_check_probability,
    summarize,
    threshold_bin,
    weighted_share,
    wilson,
)


def close(interval: Interval | None, value: float, low: float, high: float, digits: int = 4) -> bool:
    assert interval is not None
    return (round(interval.value, digits), round(interval.low, digits), round(interval.high, digits)) == (
        value,
        low,
        high,
    )


# --- Wilson and Kish-Wilson ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", method 3.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # Textbook values: 8 of 10, half of 10, none and all of 10.
        (8, 10, 0.4902, 0.9433),
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_gives_the_published_intervals(successes, n, low, high):
    assert close(wilson(successes, n), round(successes / n, 4), low, high)


def test_wilson_without_observations_is_none_and_refuses_nonsense():
    assert wilson(0, 0) is None
    for successes, n in [(math.nan, 10), (1, math.inf), (-1, 10), (11, 10), (1, -2), (True, 10)]:
        with pytest.raises(ValueError):
            wilson(successes, n)
    with pytest.raises(ValueError):
        wilson(1, 10, z=0)


def test_wilson_takes_a_fractional_sample_size():
    interval = wilson(2.5, 6.25)
    assert interval is not None and interval.value == 0.4 and 0 < interval.low < 0.4 < interval.high < 1


def test_equal_weights_give_the_plain_wilson_interval():
    # Ten observations of weight 3, four of them bad: the share and interval of 4 in 10.
    assert weighted_share(12, 30, 90) == wilson(4, 10)


def test_unequal_weights_shrink_the_effective_sample_size():
    # Weights 1, 1, 1, 1, 6 (the heavy one bad): share 6/10, n_eff = 10^2 / (4 + 36) = 2.5.
    assert weighted_share(6, 10, 40) == wilson(1.5, 2.5)
    assert weighted_share(0, 0, 0) is None
    with pytest.raises(ValueError):
        weighted_share(1, math.nan, 1)


# --- bins and candidate thresholds --------------------------------------------------------------------


def test_a_score_on_the_grid_falls_in_its_own_bin():
    assert [score_bin(h / 100) for h in range(100)] == list(range(100))
    assert score_bin(0.29) == 29  # 0.29 * 100 == 28.999999999999996
    assert score_bin(math.nextafter(0.29, 0)) == 28
    assert score_bin(1.0) == 99 and score_bin(0.999) == 99 and score_bin(0.0) == 0


def test_scores_out_of_range_are_clamped_and_nan_refused():
    assert score_bin(-0.5) == 0 and score_bin(3.0) == 99 and score_bin(1e300) == 99
    for bad in (math.nan, math.inf, "0.5", None):
        with pytest.raises(ValueError):
            score_bin(bad)
    with pytest.raises(ValueError):
        estimates.bin_floor(100)


def test_the_bins_agree_with_the_policys_comparison_on_the_grid():
    rng = random.Random(7)
    scores = [rng.random() for _ in range(2000)] + [h / 100 for h in range(101)]
    for h in range(1, 100):
        threshold = h / 100
        for score in scores:
            assert (score >= threshold) == (score_bin(score) >= threshold_bin(threshold))


def test_threshold_bin_reads_an_off_grid_threshold_as_its_bins_floor():
    assert threshold_bin(0.875) == 87 and threshold_bin(1.0) == 99 and threshold_bin(0.0) == 0
    with pytest.raises(ValueError):
        threshold_bin(1.5)


def test_candidate_thresholds_are_the_coarse_grid_and_a_fine_one_around_the_current():
    assert candidate_thresholds(0.7) == [
        *(h / 100 for h in range(5, 60, 5)),
        *(h / 100 for h in range(60, 81)),
        0.85,
        0.9,
        0.95,
    ]
    assert candidate_thresholds(0.0)[:11] == [h / 100 for h in range(1, 11)] + [0.15]
    assert candidate_thresholds(1.0)[-10:] == [h / 100 for h in range(90, 100)]
    assert min(candidate_thresholds(0.0)) == 0.01 and max(candidate_thresholds(1.0)) == 0.99
    assert 0.88 in candidate_thresholds(0.875) and 0.98 in candidate_thresholds(0.875)
    for bad in (math.nan, -0.1, 1.01):
        with pytest.raises(ValueError):
            candidate_thresholds(bad)


# --- curves -------------------------------------------------------------------------------------------


def hand_data() -> LabelData:
    """Three bins, every part judged, worked out by hand below.

    bin 80: 10 held, 4 decided (3 rejected)          -> 7.5 bad of 10, each decided weighs 2.5
    bin 50: 10 held, 5 decided (4 rejected)          -> 8 bad of 10, each decided weighs 2
            10 published, 1 spot check "fine" (p=0.5) -> 0 bad of 10, the check weighs 10
    bin 20: 100 published, 5 spot checks (p=0.1), one "should have been held"
                                                     -> 20 bad of 100, each check weighs 20
    """
    data = LabelData.empty(0.7)
    data.population[80], data.held[80], data.hold_bad[80], data.hold_fine[80] = 10, 10, 3, 1
    data.population[50], data.held[50], data.hold_bad[50], data.hold_fine[50] = 20, 10, 4, 1
    data.published[50], data.sample_fine_w[50], data.sample_w2[50], data.sample_n[50] = 10, 2.0, 4.0, 1
    data.population[20], data.published[20] = 100, 100
    data.sample_bad_w[20], data.sample_fine_w[20], data.sample_w2[20], data.sample_n[20] = 10.0, 40.0, 500.0, 5
    data.holds_by_label_bad, data.holds_by_label_fine = 3, 1
    return data


def test_the_curve_reweights_decided_holds_and_spot_checks_to_the_comments_they_stand_for():
    at_80, at_50, at_0 = curve(hand_data(), [0.8, 0.5, 0.0])
    # 0.8: 7.5 bad of 10; n_eff = 10^2 / (4 * 2.5^2) = 4.
    assert at_80.precision == wilson(3, 4) and at_80.hold_rate == 10 / 130 and at_80.est_held == 10
    # 0.5: 15.5 bad of 30; squared weights 25 + 5 * 2^2 + 10^2 = 145.
    assert at_50.precision == wilson(15.5 / 30 * (900 / 145), 900 / 145)
    assert at_50.hold_rate == 30 / 130 and at_50.est_bad_held == pytest.approx(15.5)
    # 0: 35.5 bad of 130. Recall at 0.5 = 15.5 / 35.5; the bad observations' squared weights:
    # 3 * 2.5^2 + 4 * 2^2 + 20^2 = 434.75.
    assert at_0.hold_rate == 1.0 and at_0.precision is not None and at_0.precision.value == pytest.approx(35.5 / 130)
    n_eff = 35.5**2 / 434.75
    assert at_50.recall == wilson(15.5 / 35.5 * n_eff, n_eff)
    assert at_0.recall is not None and at_0.recall.value == 1.0
    assert at_50.f1 == pytest.approx(2 * (15.5 / 30) * (15.5 / 35.5) / (15.5 / 30 + 15.5 / 35.5))


def test_a_part_without_evidence_borrows_from_the_narrowest_group_that_has_some():
    data = hand_data()
    # 10 more holds in bin 52, none decided: the 0.05-wide group [0.50, 0.55) answers (4 of 5 bad).
    data.population[52] += 10
    data.held[52] += 10
    # 10 holds in bin 97, none decided in [0.95, 1), [0.90, 1): [0.80, 1) answers (3 of 4 bad).
    data.population[97] += 10
    data.held[97] += 10
    at_95, at_50 = curve(data, [0.95, 0.5])
    assert at_95.precision is not None and at_95.precision.value == 0.75
    assert at_50.precision is not None and at_50.precision.value == pytest.approx((7.5 + 7.5 + 8 + 8) / 50)


def test_a_part_with_no_evidence_anywhere_is_left_out():
    data = LabelData.empty(0.7)
    data.population[80] = data.held[80] = 10
    data.hold_bad[80] = 5
    data.population[10] = data.published[10] = 1000  # never spot-checked
    at_50, at_0 = curve(data, [0.5, 0.0])
    assert at_50.precision == at_0.precision == wilson(5, 5)
    assert at_0.hold_rate == 1.0 and at_50.hold_rate == 10 / 1010


def test_rejected_reports_count_once_and_the_spot_checks_stand_for_the_rest():
    data = LabelData.empty(0.7)
    data.population[40] = data.published[40] = 100
    data.report_bad[40] = 20
    data.sample_fine_w[40], data.sample_w2[40], data.sample_n[40] = 10.0, 100.0, 1
    (point,) = curve(data, [0.4])
    # 20 bad of 100: the reports; the check stands for the 80 others, all fine.
    assert point.precision is not None and point.precision.value == pytest.approx(0.2)


def test_decided_holds_never_weigh_less_than_one():
    data = LabelData.empty(0.7)
    data.population[90], data.held[90], data.hold_bad[90], data.hold_fine[90] = 2, 2, 3, 1  # a period's edge
    (point,) = curve(data, [0.9])
    assert point.precision == wilson(3, 4)


def test_a_label_without_data_has_no_curve():
    assert curve(LabelData.empty(0.7), candidate_thresholds(0.7)) == []


def test_all_approved_gives_precision_zero_and_no_recall():
    data = LabelData.empty(0.7)
    data.population[75] = data.held[75] = data.hold_fine[75] = 40
    (point,) = curve(data, [0.7])
    assert point.precision is not None and point.precision.value == 0.0 and point.precision.low == 0.0
    assert point.recall is None and point.f1 is None and point.est_bad_held == 0.0


def test_spot_checks_of_weight_zero_are_no_evidence():
    data = LabelData.empty(0.7)
    data.population[30] = data.published[30] = 50
    data.sample_n[30] = 3  # answered, but their weights lost: nothing to estimate from
    (point,) = curve(data, [0.3])
    assert point.precision is None and point.hold_rate == 1.0


def test_thresholds_zero_and_one_are_the_first_and_last_bins():
    data = hand_data()
    data.population[99] = data.held[99] = data.hold_bad[99] = 1
    zero, one = curve(data, [0.0, 1.0])
    assert zero.hold_rate == 1.0 and zero.recall is not None and zero.recall.value == 1.0
    assert one.est_held == 1 and one.precision == wilson(1, 1)


def test_the_curve_refuses_malformed_data():
    data = hand_data()
    for threshold in (math.nan, -0.01, 2.0):
        with pytest.raises(ValueError):
            curve(data, [threshold])
    for field, value in [("published", [0] * 99), ("sample_bad_w", [math.nan] * BIN_COUNT), ("held", [-1] * BIN_COUNT)]:
        broken = hand_data()
        setattr(broken, field, value)
        with pytest.raises(ValueError):
            curve(broken, [0.5])
    broken = hand_data()
    broken.sample_w2[3] = math.inf
    with pytest.raises(ValueError):
        summarize(broken, Objective("balance"))


# --- the miss share -----------------------------------------------------------------------------------


def test_the_miss_share_counts_rejected_reports_exactly_and_estimates_the_rest():
    # 100 published, 10 rejected after reports; five checks of weight 10, one bad: 20% of the 90 others.
    share = published_miss_share(100, 10, 10.0, 40.0, 500.0)
    rest = wilson(1, 5)
    assert rest is not None
    assert share == Interval(0.1 + 0.9 * 0.2, 0.1 + 0.9 * rest.low, 0.1 + 0.9 * rest.high)


def test_the_miss_share_edges():
    assert published_miss_share(0, 0, 0.0, 0.0, 0.0) is None  # nothing published
    assert published_miss_share(100, 3, 0.0, 0.0, 0.0) is None  # no spot checks: the rest unknown
    assert published_miss_share(5, 5, 0.0, 0.0, 0.0) == Interval(1.0, 1.0, 1.0)  # every one rejected
    share = published_miss_share(500, 0, 0.0, 300.0, 3000.0)  # thirty checks of weight 10, all fine
    assert share == wilson(0, 30) and share is not None and round(share.high, 4) == 0.1135
    with pytest.raises(ValueError):
        published_miss_share(100, 0, math.nan, 1.0, 1.0)


def test_a_labels_miss_share_sums_its_bins():
    share = estimates.label_miss_share(hand_data())
    # 110 published, none reported; checks: bad weight 10 of 52, squared weights 504.
    assert share == weighted_share(10, 52, 504)


# --- objectives ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "objective"),
    [
        ({"kind": "precision", "target": 0.9}, Objective("precision", 0.9)),
        ({"kind": "precision", "target": 1}, Objective("precision", 1.0)),
        ({"kind": "hold_rate", "target": 0}, Objective("hold_rate", 0.0)),
        ({"kind": "hold_rate", "target": 0.05}, Objective("hold_rate", 0.05)),
        ({"kind": "balance"}, Objective("balance")),
        ({"kind": "balance", "target": None}, Objective("balance")),
        ("balance", Objective("balance")),
    ],
)
def test_parse_objective_reads_each_kind(value, objective):
    assert parse_objective(value) == objective
    assert parse_objective(objective.to_dict()) == objective


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"kind": "recall", "target": 0.9}, "kind must be one of precision, hold_rate, balance"),
        ({"target": 0.9}, "needs a kind"),
        ({"kind": "precision"}, "needs a target"),
        ({"kind": "hold_rate", "target": None}, "needs a target"),
        ({"kind": "precision", "target": 0}, "above 0 and at most 1"),
        ({"kind": "precision", "target": 1.5}, "above 0 and at most 1"),
        ({"kind": "hold_rate", "target": -0.1}, "from 0 to 1"),
        ({"kind": "precision", "target": "0.9"}, "must be a finite number"),
        ({"kind": "precision", "target": True}, "must be a finite number"),
        ({"kind": "precision", "target": math.nan}, "must be a finite number"),
        ({"kind": "hold_rate", "target": math.inf}, "must be a finite number"),
        ({"kind": "balance", "target": 0.5}, "takes no target"),
        ({"kind": "precision", "target": 0.9, "labels": ["toxicity"]}, "not labels"),
        ("precision", "needs a target"),
        ("", "kind must be one of"),
        (["precision", 0.9], "an objective is an object"),
        (None, "an objective is an object"),
        ({"kind": ["precision"], "target": 0.9}, "kind must be one of"),
    ],
)
def test_parse_objective_says_what_is_wrong(value, words):
    with pytest.raises(ValueError, match=words):
        parse_objective(value)


def test_an_objective_made_directly_is_checked_the_same_way():
    with pytest.raises(ValueError, match="needs a target"):
        Objective("precision")
    with pytest.raises(ValueError, match="kind must be one of"):
        Objective("recall", 0.5)  # type: ignore[arg-type]


# --- recommendations ----------------------------------------------------------------------------------


def point(
    threshold: float, hold_rate: float, precision: float | None = None, recall: float | None = None
) -> CurvePoint:
    as_interval = None if precision is None else Interval(precision, precision, precision)
    recalled = None if recall is None else Interval(recall, recall, recall)
    f1 = None if precision is None or recall is None else 2 * precision * recall / (precision + recall)
    return CurvePoint(threshold, hold_rate, as_interval, recalled, f1, hold_rate * 1000, None)


POINTS = [
    point(0.5, 0.10, 0.55, 0.90),  # F1 0.6828
    point(0.6, 0.07, 0.70, 0.80),  # F1 0.7467
    point(0.7, 0.05, 0.80, 0.70),  # F1 0.7467
    point(0.8, 0.03, 0.92, 0.50),  # F1 0.6479
    point(0.9, 0.01, 0.91, 0.20),
]


def test_precision_recommends_the_lowest_threshold_that_meets_the_target():
    recommendation = recommend(list(reversed(POINTS)), Objective("precision", 0.8), 0.7)
    assert (recommendation.threshold, recommendation.meets_objective, recommendation.reason) == (
        0.7,
        True,
        "meets_target",
    )
    assert recommend(POINTS, Objective("precision", 0.9), 0.7).threshold == 0.8  # not 0.9, not 0.7


def test_precision_out_of_reach_recommends_nothing_and_shows_the_closest():
    recommendation = recommend(POINTS, Objective("precision", 0.95), 0.7)
    assert recommendation.threshold is None and not recommendation.meets_objective
    assert recommendation.reason == "target_unreachable" and recommendation.point == POINTS[3]


def test_hold_rate_recommends_the_lowest_threshold_that_holds_little_enough():
    assert recommend(POINTS, Objective("hold_rate", 0.05), 0.7).threshold == 0.7
    assert recommend(POINTS, Objective("hold_rate", 1.0), 0.7).threshold == 0.5
    unreachable = recommend(POINTS, Objective("hold_rate", 0.0), 0.7)
    assert unreachable.threshold is None and unreachable.reason == "target_unreachable"
    assert unreachable.point == POINTS[4]


def test_balance_recommends_the_best_f1_and_breaks_ties_towards_the_current_threshold():
    assert recommend(POINTS, Objective("balance"), 0.7).threshold == 0.7
    assert recommend(POINTS, Objective("balance"), 0.55).threshold == 0.6
    recommendation = recommend(POINTS, Objective("balance"), 0.1)
    assert (recommendation.threshold, recommendation.reason) == (0.6, "best_balance")


def test_recommendations_without_estimates():
    counted_only = [point(0.5, 0.1), point(0.7, 0.05)]
    for objective in (Objective("precision", 0.8), Objective("balance")):
        assert recommend(counted_only, objective, 0.7).reason == "no_estimates"
    assert recommend(counted_only, Objective("hold_rate", 0.06), 0.7).threshold == 0.7
    assert recommend([], Objective("balance"), 0.7) == estimates.Recommendation(None, False, "no_data", None)
    no_bad = [point(0.5, 0.1, 0.0), point(0.7, 0.05, 0.0)]
    assert recommend(no_bad, Objective("balance"), 0.7).reason == "nothing_rejected"


def test_every_reason_has_words():
    reasons = {"meets_target", "best_balance", "target_unreachable", "not_enough_decisions"}
    reasons |= {"no_estimates", "no_data", "nothing_rejected"}
    assert set(estimates.RECOMMENDATION_REASONS) == reasons
    assert all(words.strip() for words in estimates.RECOMMENDATION_REASONS.values())


# --- one label, all together ----------------------------------------------------------------------------


def decided(count: int) -> LabelData:
    """``count`` decided holds of this label, half rejected, in bins 70 to 89, over 1000 comments."""
    data = LabelData.empty(0.7)
    data.population[10] = data.published[10] = 1000 - count
    for index in range(count):
        b = 70 + index % 20
        data.population[b] += 1
        data.held[b] += 1
        if index % 2:
            data.hold_bad[b] += 1
            data.holds_by_label_bad += 1
        else:
            data.hold_fine[b] += 1
            data.holds_by_label_fine += 1
    return data


def test_below_the_minimum_the_estimates_are_withheld():
    summary = summarize(decided(MIN_DECISIONS - 1), Objective("precision", 0.5))
    assert summary.decisions == MIN_DECISIONS - 1 and not summary.enough_decisions
    assert summary.hold_precision is None and summary.miss_share is None
    assert all(p.precision is None and p.recall is None and p.f1 is None for p in summary.points)
    assert summary.current is not None and summary.current.hold_rate == pytest.approx(0.029)
    assert summary.recommendation == estimates.Recommendation(None, False, "not_enough_decisions", None)
    # A hold rate needs no decisions: the scores answer it.
    assert summarize(decided(MIN_DECISIONS - 1), Objective("hold_rate", 0.01)).recommendation.threshold == 0.8


def test_at_the_minimum_the_estimates_are_shown():
    summary = summarize(decided(MIN_DECISIONS), Objective("precision", 0.5))
    assert summary.enough_decisions and summary.holds_decided == MIN_DECISIONS
    assert summary.hold_precision == wilson(15, 30)
    assert summary.miss_share is None  # no spot checks
    assert summary.current is not None and summary.current.precision is not None
    assert summary.recommendation.reason in estimates.RECOMMENDATION_REASONS


def test_one_label_with_data_and_the_others_without():
    objective = Objective("balance")
    with_data = summarize(hand_data(), objective, thresholds=[0.2, 0.5, 0.8])
    without = summarize(LabelData.empty(0.7), objective)
    assert with_data.decisions == 15 and [p.threshold for p in with_data.points] == [0.2, 0.5, 0.8]
    assert without.decisions == 0 and without.points == [] and without.current is None
    assert without.recommendation.reason == "no_data"


# --- drift --------------------------------------------------------------------------------------------


def histogram(shares: dict[int, float]) -> list[float]:
    counts = [0.0] * BIN_COUNT
    for b, share in shares.items():
        counts[b] = share
    return counts


def test_psi_of_a_histogram_with_itself_is_zero():
    same = [float(b % 7) for b in range(BIN_COUNT)]
    assert psi(same, same) == 0.0
    assert psi(same, [3 * count for count in same]) == pytest.approx(0.0)


def test_psi_known_values():
    # Two groups: 50/50 against 25/75: (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.2747.
    assert round(psi(histogram({10: 50, 60: 50}), histogram({20: 25, 90: 75}), bins=2), 4) == 0.2747
    # Ten groups, a tenth in each against all in the first: sum of (c - r) ln(c / r), empty = 1e-4.
    reference = [1.0] * BIN_COUNT
    expected = (1 - 0.1) * math.log(1 / 0.1) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert psi(reference, histogram({0: 5, 9: 5})) == pytest.approx(expected)
    assert round(expected, 3) == 8.283


def test_psi_edges():
    assert psi([0.0] * BIN_COUNT, [1.0] * BIN_COUNT) is None
    assert not estimates.drifted(None) and estimates.drifted(0.2) and not estimates.drifted(0.19)
    for reference, current, bins in [([1.0] * 100, [1.0] * 99, 10), ([1.0] * 100, [1.0] * 100, 0), ([], [], 10)]:
        with pytest.raises(ValueError):
            psi(reference, current, bins)
    with pytest.raises(ValueError):
        psi([math.nan] * BIN_COUNT, [1.0] * BIN_COUNT)


# --- spot checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, (0.1, "far")),
        (0.2099, (0.1, "far")),
        (0.21, (0.4, "near")),  # 0.21 / 0.7 = 0.3
        (0.4899, (0.4, "near")),
        (0.49, (1.0, "edge")),  # 0.7 * 0.7: six times 0.2 is more than 1
    ],
)
def test_spot_check_bands_follow_how_close_a_comment_came_to_a_threshold(score, expected):
    probability, band = spot_check_probability(
        {"toxicity": score, "insult": 0.01}, {"toxicity": 0.7, "insult": 0.7}, 0.2
    )
    assert (round(probability, 10), band) == expected


def test_spot_check_probability_edges():
    assert spot_check_probability({"toxicity": 0.6}, {"toxicity": 0.7}, 0.0) == (0.0, "edge")
    assert spot_check_probability({"toxicity": 0.6}, {"toxicity": 0.7}, 1.0) == (1.0, "edge")
    assert spot_check_probability({"toxicity": 0.01}, {"toxicity": 0.0}, 0.1)[1] == "edge"  # holds everything
    assert spot_check_probability({}, {"toxicity": 0.7}, 0.1) == (0.05, "far")
    assert spot_check_probability({"obscene": 0.69}, {"toxicity": 0.7}, 0.1) == (0.05, "far")  # no threshold
    for scores, rate in [({"toxicity": math.nan}, 0.1), ({"toxicity": 0.5}, math.nan), ({"toxicity": 0.5}, 1.5)]:
        with pytest.raises(ValueError):
            spot_check_probability(scores, {"toxicity": 0.7}, rate)
