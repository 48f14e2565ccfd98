"""The simulated site (tests/simulation.py) is what it claims to be, and the statistics of
calibration (comments/services/calibration/estimates.py) find its truth.

How often an interval must cover the truth: 34 seeds of 40 (85%). An interval that truly covers 95%
misses X ~ Binomial(40, 0.05) times: more than 6 misses has probability 0.34%, so a correct interval
passes; one that covers only 75% passes with probability 9.6%, so a badly wrong one does not. (The
seeds are fixed: the test is deterministic; the numbers say what passing it is evidence of.)

About 500 decisions a site (6000 comments, 8% abusive, 70% of holds decided, spot checks at 5%):
the size of a small site's first weeks, when a recommendation is first worth showing.
"""

from __future__ import annotations

import statistics

import pytest

from comments.models import Status
from comments.services import moderation, sites
from comments.services.calibration import estimates
from comments.services.calibration.estimates import Objective
from tests.simulation import LabelScores, Simulation, default_label_scores, simulate

SEEDS = range(40)
LABEL = "toxicity"
COMMENTS = 6000


def inside(interval: estimates.Interval | None, value: float) -> bool:
    return interval is not None and interval.low <= value <= interval.high


@pytest.fixture(scope="module")
def simulations() -> list[Simulation]:
    return [simulate(seed, COMMENTS, decided_share=0.7) for seed in SEEDS]


# --- the simulator ------------------------------------------------------------------------------------


def test_the_simulator_holds_what_the_moderation_policy_holds():
    thresholds = {"toxicity": 0.7, "insult": 0.6, "threat": 0.5}
    site = simulate(1, 800, thresholds=thresholds)
    settings = {**sites.DEFAULT_SETTINGS, "thresholds": thresholds}
    for comment in site.comments:
        status, reasons = moderation.outcome([], settings, moderation.ClassifierResult(scores=comment.scores))
        assert (status == Status.HELD) == comment.held
        assert tuple(sorted(r["label"] for r in reasons if r.get("label"))) == tuple(sorted(comment.held_by))
    assert 0 < sum(c.held for c in site.comments) < 800


def test_the_simulator_draws_spot_checks_as_the_service_does():
    site = simulate(2, 4000, spot_check_rate=0.05)
    published = [c for c in site.comments if not c.held]
    for comment in site.comments:
        if comment.held:
            assert comment.spot_probability == 0.0 and not comment.spot_checked
        else:
            expected = estimates.spot_check_probability(comment.scores, site.thresholds, 0.05)
            assert (comment.spot_probability, comment.spot_band) == expected
    drawn = sum(c.spot_checked for c in published)
    mean = sum(c.spot_probability for c in published)
    spread = sum(c.spot_probability * (1 - c.spot_probability) for c in published) ** 0.5
    assert abs(drawn - mean) < 4 * spread
    # Most comments are far from every threshold: the overall rate stays near the site's 5%.
    assert 0.025 < mean / len(published) < 0.1


def test_the_label_data_is_the_evidence_summed_by_bin():
    site = simulate(3, 3000, report_rate=0.9, spot_check_rate=0.5)
    data = site.label_data(LABEL)
    assert sum(data.population) == 3000 and sum(data.held) == sum(c.held for c in site.comments)
    assert [h + p for h, p in zip(data.held, data.published)] == data.population
    rows = site.evidence(LABEL)
    assert len(rows) == len({row.comment_id for row in rows}) == site.decisions == data.decisions
    # A spot-checked comment rejected after reports is evidence once, as a report.
    by_id = {row.comment_id: row for row in rows}
    both = [c for c in site.comments if c.spot_checked and c.decided and c.report_rejected]
    assert both and all(by_id[c.id].source == "report" and by_id[c.id].weight == 1.0 for c in both)
    # A report approved is no evidence, unless the comment was spot-checked.
    approved = [c for c in site.comments if c.reported and not c.report_rejected and not c.spot_checked]
    assert approved and not any(c.id in by_id for c in approved)
    weights = [row.weight for row in rows if row.source == "spot_check"]
    assert sum(data.sample_bad_w) + sum(data.sample_fine_w) == pytest.approx(sum(weights))


def test_a_seed_gives_the_same_site():
    assert simulate(5, 300).comments == simulate(5, 300).comments
    assert simulate(5, 300).comments != simulate(6, 300).comments


def test_the_exact_truth_is_what_a_large_population_shows():
    site = simulate(4, 30000, labels=(LABEL,), base_rate=0.1)
    for threshold in (0.3, 0.7):
        at_or_over = [c for c in site.comments if c.scores[LABEL] >= threshold]
        share = len(at_or_over) / len(site.comments)
        expected = site.true_hold_rate(LABEL, threshold)
        assert abs(share - expected) < 4 * (expected * (1 - expected) / len(site.comments)) ** 0.5
        abusive = sum(c.abusive for c in at_or_over) / len(at_or_over)
        expected_precision = site.true_precision(LABEL, threshold)
        assert expected_precision is not None
        assert (
            abs(abusive - expected_precision)
            < 4 * (expected_precision * (1 - expected_precision) / len(at_or_over)) ** 0.5
        )


# --- intervals: coverage --------------------------------------------------------------------------------


def test_the_sites_have_about_500_decisions(simulations):
    decisions = [site.decisions for site in simulations]
    assert 450 < statistics.mean(decisions) < 550 and min(decisions) > 400


def coverage(hits: list[bool]) -> float:
    return sum(hits) / len(hits)


def test_the_intervals_of_the_precision_of_holds_cover_the_truth(simulations):
    by_label, at_current, below_current, all_holds = [], [], [], []
    for site in simulations:
        data = site.label_data(LABEL)
        truth = site.true_precision(LABEL, 0.7)
        at_07, at_05 = estimates.curve(data, [0.7, 0.5])
        by_label.append(inside(estimates.hold_precision(data), truth))
        at_current.append(inside(at_07.precision, truth))
        below_current.append(inside(at_05.precision, site.true_precision(LABEL, 0.5)))
        decided = [c.rejected for c in site.comments if c.held and c.decided]
        all_holds.append(inside(estimates.wilson(sum(decided), len(decided)), site.true_precision_of_holds))
    assert coverage(by_label) >= 0.85
    assert coverage(at_current) >= 0.85
    assert coverage(below_current) >= 0.85  # holds by other labels and spot checks, re-weighted
    assert coverage(all_holds) >= 0.85


def test_the_intervals_of_the_miss_share_and_recall_cover_the_truth(simulations):
    misses, recalls = [], []
    for site in simulations:
        data = site.label_data(LABEL)
        misses.append(inside(estimates.label_miss_share(data), site.true_miss_share))
        (at_07,) = estimates.curve(data, [0.7])
        recalls.append(inside(at_07.recall, site.true_recall(LABEL, 0.7)))
    assert coverage(misses) >= 0.85
    assert coverage(recalls) >= 0.85


# --- recommendations --------------------------------------------------------------------------------------


def threshold_errors(simulations: list[Simulation], objective: Objective) -> list[float]:
    errors = []
    for site in simulations:
        recommendation = estimates.summarize(site.label_data(LABEL), objective).recommendation
        truth = site.true_threshold(LABEL, objective)
        assert recommendation.threshold is not None and truth is not None
        errors.append(round(recommendation.threshold - truth, 2))
    return errors


def within(errors: list[float], margin: float) -> float:
    return sum(abs(error) <= margin + 1e-9 for error in errors) / len(errors)


def test_the_precision_recommendation_lands_near_the_threshold_that_truly_meets_it(simulations):
    """Precision 0.85 is truly met from 0.76. The estimated precision there varies by about 0.03
    between sites of 500 decisions and the true curve rises about 1 per unit of threshold: an error
    of 0.05 is about 1.7 standard deviations, so most sites, not all, land within it. (Above 0.80 the
    candidates are 0.05 apart: a site that misses 0.76-0.80 lands on 0.85, 0.09 off.)"""
    errors = threshold_errors(simulations, Objective("precision", 0.85))
    assert within(errors, 0.05) >= 0.8 and within(errors, 0.10) >= 0.95 and max(map(abs, errors)) <= 0.15


def test_the_hold_rate_recommendation_lands_near_the_threshold_that_truly_meets_it(simulations):
    errors = threshold_errors(simulations, Objective("hold_rate", 0.04))
    assert within(errors, 0.05) >= 0.95


def test_the_balance_recommendation_lands_near_the_best_threshold_when_f1_has_a_clear_peak():
    """F1 here falls by 0.03 at 0.05 from its best threshold (0.68), and by 0.08 or more at 0.10."""
    labels = default_label_scores((LABEL, "insult", "threat"))
    labels[LABEL] = LabelScores(abusive=(1.2, 0.5), clean=(-1.0, 1.0))
    peaked = [simulate(seed, 3600, labels=labels, decided_share=0.7) for seed in SEEDS]
    assert 450 < statistics.mean(site.decisions for site in peaked) < 550
    assert within(threshold_errors(peaked, Objective("balance")), 0.05) >= 0.9


def test_the_balance_recommendation_loses_little_f1_when_f1_is_flat(simulations):
    """On the default site F1 varies by less than 0.01 between 0.5 and 0.6: no sample of 500 decisions
    tells those thresholds apart, and it matters little which is taken. What counts is the F1 the
    recommendation truly gets, against the best."""
    objective = Objective("balance")
    lost = []
    for site in simulations:
        recommendation = estimates.summarize(site.label_data(LABEL), objective).recommendation
        assert recommendation.threshold is not None
        best = site.true_threshold(LABEL, objective)
        assert best is not None
        lost.append(site.true_f1(LABEL, best) - site.true_f1(LABEL, recommendation.threshold))
    assert statistics.mean(lost) < 0.02 and within(lost, 0.05) >= 0.9 and max(lost) < 0.1


# --- re-weighting -----------------------------------------------------------------------------------------


def test_spot_checks_are_reweighted_to_the_published_comments_they_stand_for(simulations):
    """Comments near a threshold are checked twelve times as often as those far from all: counted
    as they come, the checks find far more comments that should have been held than there are."""
    unweighted, weighted, truth = [], [], []
    for site in simulations:
        rows = [row for row in site.evidence(LABEL) if row.source == "spot_check"]
        unweighted.append(sum(row.bad for row in rows) / len(rows))
        share = estimates.published_miss_share(
            sum(not c.held and not c.report_rejected for c in site.comments),
            0,
            sum(row.weight for row in rows if row.bad),
            sum(row.weight for row in rows if not row.bad),
            sum(row.weight**2 for row in rows),
        )
        assert share is not None
        weighted.append(share.value)
        # The checks stand for the published comments not rejected after reports.
        truth.append(statistics.mean(c.abusive for c in site.comments if not c.held and not c.report_rejected))
    assert statistics.mean(unweighted) > 3 * statistics.mean(truth)
    assert abs(statistics.mean(weighted) - statistics.mean(truth)) < 0.1 * statistics.mean(truth)


def test_decided_holds_are_reweighted_to_the_holds_of_their_bin():
    """Moderators who decide nearly every sure hold (score 0.9 and more) and few doubtful ones: the
    share of decided holds rejected says more about their habits than about the threshold."""

    def decided_share(scores):
        return 0.95 if scores[LABEL] >= 0.9 else 0.1

    sites_ = [simulate(seed, COMMENTS, decided_share=decided_share) for seed in range(10)]
    truth = sites_[0].true_precision(LABEL, 0.7)
    assert truth is not None
    plain, reweighted = [], []
    for site in sites_:
        data = site.label_data(LABEL)
        share = estimates.hold_precision(data)
        (point,) = estimates.curve(data, [0.7])
        assert share is not None and point.precision is not None
        plain.append(share.value)
        reweighted.append(point.precision.value)
    assert statistics.mean(plain) - truth > 0.08
    assert abs(statistics.mean(reweighted) - truth) < 0.02


# --- moderators who err -------------------------------------------------------------------------------------


def test_the_estimates_are_of_what_moderators_say_not_of_the_truth():
    """Moderators who get one decision in ten wrong: a share p of bad comments reads p(1-e)+(1-p)e."""
    error = 0.1
    erring = [
        simulate(seed, COMMENTS, decided_share=0.7, moderator_error=error, report_rate=0, false_report_rate=0)
        for seed in range(20)
    ]
    truth = erring[0].true_precision(LABEL, 0.7)
    assert truth is not None
    moderated = truth * (1 - error) + (1 - truth) * error
    precision = [estimates.hold_precision(site.label_data(LABEL)) for site in erring]
    assert abs(statistics.mean(p.value for p in precision if p) - moderated) < 0.015
    assert abs(moderated - truth) > 0.05
    misses, covered_moderated, covered_truth = [], [], []
    for site in erring:
        share = estimates.label_miss_share(site.label_data(LABEL))
        assert share is not None
        seen = site.true_miss_share * (1 - error) + (1 - site.true_miss_share) * error
        misses.append(share.value - seen)
        covered_moderated.append(inside(share, seen))
        covered_truth.append(inside(share, site.true_miss_share))
    assert abs(statistics.mean(misses)) < 0.02  # the truth is 0.09 away
    assert coverage(covered_moderated) >= 0.85 and coverage(covered_truth) <= 0.1
