"""A simulated site whose truth is known: the statistics of calibration are checked against it.

``simulate`` draws comments with scores from known distributions, runs the moderation policy
(held when any label's score is at or over its threshold), draws spot checks of the published ones
as the service does (``estimates.spot_check_probability`` and a seeded ``random.Random``), lets
moderators decide holds and answer spot checks (flipping a verdict with probability
``moderator_error``) and readers report some published comments. It returns plain records, the
evidence the database side would keep, the ``LabelData`` it would aggregate, and the truth.

Scores: for each label, a comment's logit (log(s / (1 - s))) is normal, with a mean and spread for
abusive comments and another for clean ones (``LabelScores``); the labels of one comment are
correlated through a shared latent (``correlation``: the weight of a normal shared by all labels).
Each label's score is then exactly logit-normal given the comment's truth, so its true curve
(share of comments at/over t that are abusive, share of abusive comments at/over t, hold rate) is
known in closed form: the truth a recommendation is judged against is exact, not itself an estimate
from another sample.

Used by tests/test_simulation.py and the benchmark scripts (``from tests.simulation import
simulate``): the standard library and ``comments.services.calibration.estimates`` only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from comments.services.calibration import estimates
from comments.services.calibration.estimates import LabelData, Objective


@dataclass(frozen=True)
class LabelScores:
    """One label's score distribution: normal logits, (mean, standard deviation) for abusive
    comments and for clean ones."""

    abusive: tuple[float, float]
    clean: tuple[float, float]

    def share_at_or_over(self, threshold: float, abusive: bool) -> float:
        """P(score >= threshold) for an abusive (or clean) comment, exactly."""
        if threshold <= 0:
            return 1.0
        if threshold >= 1:
            return 0.0
        mean, spread = self.abusive if abusive else self.clean
        logit = math.log(threshold / (1 - threshold))
        return 0.5 * math.erfc((logit - mean) / (spread * math.sqrt(2)))


def default_label_scores(labels: Sequence[str]) -> dict[str, LabelScores]:
    """The first label tells abusive from clean well (like Detoxify's ``toxicity``); the others
    less, and score most comments, abusive or not, low (an abusive comment is not always a threat)."""
    return {
        label: LabelScores(abusive=(0.8, 1.6), clean=(-2.6, 1.5))
        if index == 0
        else LabelScores(abusive=(-1.0, 1.8), clean=(-4.0, 1.5))
        for index, label in enumerate(labels)
    }


@dataclass
class SimulatedComment:
    """One comment of the simulation, in publication order.

    ``held``: the machine held it (some label at or over its threshold), else it published it (the
    simulation has no reject thresholds). ``decided``: a moderator decided the hold, or answered the
    spot check of the published comment; ``rejected`` is that verdict (True: rejected / "should
    have been held"), None when not decided. ``held_seconds``: time a decided hold waited.
    ``reported``: readers reported the published comment; ``report_rejected``: a moderator then
    rejected it (a report approved changes nothing)."""

    id: int
    scores: dict[str, float]
    abusive: bool  # the truth, which no moderator sees
    held: bool
    held_by: tuple[str, ...]  # the labels at or over their thresholds
    decided: bool
    rejected: bool | None
    held_seconds: float | None
    spot_checked: bool
    spot_probability: float  # the probability it was drawn with (0.0 for holds)
    spot_band: str | None
    reported: bool
    report_rejected: bool


@dataclass(frozen=True)
class EvidenceRow:
    """A ``calibration_evidence`` row, as the database side writes it (one per label of a comment
    with a human verdict): source "hold", "spot_check" or "report"; ``bad``: rejected / "should
    have been held"; ``weight``: 1/probability for spot checks, else 1."""

    comment_id: int
    label: str
    score: float
    bin: int
    source: str
    bad: bool
    weight: float
    held_by_label: bool
    held_seconds: float | None


@dataclass
class Simulation:
    comments: list[SimulatedComment]
    labels: dict[str, LabelScores]
    thresholds: dict[str, float]
    base_rate: float
    moderator_error: float
    spot_check_rate: float
    _label_data: dict[str, LabelData] = field(default_factory=dict, repr=False)

    # --- what the service would see ----------------------------------------------------------------

    @property
    def decisions(self) -> int:
        """Decided comments: decided holds, answered spot checks, rejected reports (a comment once)."""
        return sum(1 for c in self.comments if c.decided or c.report_rejected)

    def evidence(self, label: str) -> list[EvidenceRow]:
        """The evidence rows for ``label``, by the rules of the design (spec17: a rejected report
        replaces a spot check of the same comment; a report approved is no evidence)."""
        rows = []
        threshold = self.thresholds[label]
        for c in self.comments:
            score = c.scores[label]
            if c.held and c.decided:
                assert c.rejected is not None
                source, bad, weight = "hold", c.rejected, 1.0
            elif c.report_rejected:
                source, bad, weight = "report", True, 1.0
            elif c.spot_checked and c.decided:
                assert c.rejected is not None
                source, bad, weight = "spot_check", c.rejected, 1 / c.spot_probability
            else:
                continue
            rows.append(
                EvidenceRow(
                    comment_id=c.id,
                    label=label,
                    score=score,
                    bin=estimates.score_bin(score),
                    source=source,
                    bad=bad,
                    weight=weight,
                    held_by_label=c.held and score >= threshold,
                    held_seconds=c.held_seconds if source == "hold" else None,
                )
            )
        return rows

    def label_data(self, label: str) -> LabelData:
        """The label's binned data, aggregated as the database side does (score bins counted at
        scoring time, evidence rows summed by bin)."""
        if label in self._label_data:
            return self._label_data[label]
        data = LabelData.empty(self.thresholds[label])
        for c in self.comments:
            b = estimates.score_bin(c.scores[label])
            data.population[b] += 1
            if c.held:
                data.held[b] += 1
            else:
                data.published[b] += 1
        for row in self.evidence(label):
            if row.source == "hold":
                if row.bad:
                    data.hold_bad[row.bin] += 1
                else:
                    data.hold_fine[row.bin] += 1
                if row.held_by_label:
                    data.holds_by_label_bad += row.bad
                    data.holds_by_label_fine += not row.bad
            elif row.source == "report":
                data.report_bad[row.bin] += 1
            else:
                if row.bad:
                    data.sample_bad_w[row.bin] += row.weight
                else:
                    data.sample_fine_w[row.bin] += row.weight
                data.sample_w2[row.bin] += row.weight * row.weight
                data.sample_n[row.bin] += 1
        self._label_data[label] = data
        return data

    # --- the truth ---------------------------------------------------------------------------------

    @property
    def true_precision_of_holds(self) -> float:
        """The share of this population's machine holds that are abusive."""
        held = [c.abusive for c in self.comments if c.held]
        return sum(held) / len(held)

    @property
    def true_miss_share(self) -> float:
        """The share of this population's published comments that are abusive."""
        published = [c.abusive for c in self.comments if not c.held]
        return sum(published) / len(published)

    def true_hold_rate(self, label: str, threshold: float) -> float:
        """The expected share of comments at or over ``threshold`` for ``label`` (exact)."""
        scores = self.labels[label]
        return self.base_rate * scores.share_at_or_over(threshold, True) + (
            1 - self.base_rate
        ) * scores.share_at_or_over(threshold, False)

    def true_precision(self, label: str, threshold: float) -> float | None:
        """The expected share of comments at or over ``threshold`` that are abusive (exact; None
        when no comment would be)."""
        held = self.true_hold_rate(label, threshold)
        return None if held == 0 else self.base_rate * self.labels[label].share_at_or_over(threshold, True) / held

    def true_recall(self, label: str, threshold: float) -> float:
        return self.labels[label].share_at_or_over(threshold, True)

    def true_f1(self, label: str, threshold: float) -> float:
        precision, recall = self.true_precision(label, threshold), self.true_recall(label, threshold)
        return 0.0 if not precision or not recall else 2 * precision * recall / (precision + recall)

    def true_threshold(
        self, label: str, objective: Objective, thresholds: Sequence[float] | None = None
    ) -> float | None:
        """The threshold among ``thresholds`` (default: the candidates around the label's
        threshold) that truly meets ``objective``, chosen by the rule ``estimates.recommend``
        applies to estimates, applied to the exact curve. None when none meets it."""
        current = self.thresholds[label]
        if thresholds is None:
            thresholds = estimates.candidate_thresholds(current)
        ordered = sorted(thresholds)
        if objective.kind == "balance":
            best = max(self.true_f1(label, t) for t in ordered)
            return min(
                (t for t in ordered if self.true_f1(label, t) >= best - 1e-12), key=lambda t: (abs(t - current), t)
            )
        assert objective.target is not None
        for t in ordered:
            if objective.kind == "hold_rate" and self.true_hold_rate(label, t) <= objective.target:
                return t
            if objective.kind == "precision" and (self.true_precision(label, t) or 0.0) >= objective.target:
                return t
        return None


DecidedShare = float | Callable[[Mapping[str, float]], float]


def simulate(
    seed: int,
    n: int,
    *,
    base_rate: float = 0.08,
    labels: Mapping[str, LabelScores] | Sequence[str] = ("toxicity", "insult", "threat"),
    thresholds: Mapping[str, float] | float = 0.7,
    correlation: float = 0.6,
    moderator_error: float = 0.0,
    spot_check_rate: float = 0.05,
    decided_share: DecidedShare = 1.0,
    report_rate: float = 0.2,
    false_report_rate: float = 0.002,
    mean_hold_seconds: float = 3600.0,
) -> Simulation:
    """``n`` comments of a site, ``base_rate`` of them abusive, drawn from ``random.Random(seed)``.

    ``labels``: names (scored as :func:`default_label_scores`) or each label's :class:`LabelScores`;
    ``thresholds``: the site's hold thresholds, per label or one for all. ``decided_share``: the
    chance a hold is decided and a spot check answered; a function of the comment's scores to make
    it depend on them (decisions missing at random given the scores). ``report_rate``: the chance
    readers report a published abusive comment, ``false_report_rate`` a clean one; moderators
    decide every report, with the same error as the rest."""
    for name, value in (
        ("base_rate", base_rate),
        ("moderator_error", moderator_error),
        ("spot_check_rate", spot_check_rate),
        ("report_rate", report_rate),
        ("false_report_rate", false_report_rate),
        ("correlation", correlation),
    ):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1")
    rng = random.Random(seed)
    models = dict(labels) if isinstance(labels, Mapping) else default_label_scores(labels)
    limits = dict(thresholds) if isinstance(thresholds, Mapping) else dict.fromkeys(models, thresholds)
    shared_weight, own_weight = correlation, math.sqrt(1 - correlation * correlation)

    def verdict(abusive: bool) -> bool:
        return abusive != (rng.random() < moderator_error)

    def chance_decided(scores: Mapping[str, float]) -> float:
        return decided_share(scores) if callable(decided_share) else decided_share

    comments = []
    for comment_id in range(1, n + 1):
        abusive = rng.random() < base_rate
        latent = rng.gauss(0.0, 1.0)
        scores = {}
        for label, model in models.items():
            mean, spread = model.abusive if abusive else model.clean
            logit = mean + spread * (shared_weight * latent + own_weight * rng.gauss(0.0, 1.0))
            scores[label] = 1 / (1 + math.exp(-logit)) if logit > -700 else 0.0
        held_by = tuple(label for label in models if scores[label] >= limits[label])
        held = bool(held_by)
        decided, rejected, held_seconds = False, None, None
        spot_checked, probability, band = False, 0.0, None
        reported = report_rejected = False
        if held:
            if rng.random() < chance_decided(scores):
                decided, rejected = True, verdict(abusive)
                held_seconds = rng.expovariate(1 / mean_hold_seconds)
        else:
            probability, band = estimates.spot_check_probability(scores, limits, spot_check_rate)
            if rng.random() < probability:
                spot_checked = True
                if rng.random() < chance_decided(scores):
                    decided, rejected = True, verdict(abusive)
            if rng.random() < (report_rate if abusive else false_report_rate):
                reported = True
                report_rejected = verdict(abusive)
        comments.append(
            SimulatedComment(
                id=comment_id,
                scores=scores,
                abusive=abusive,
                held=held,
                held_by=held_by,
                decided=decided,
                rejected=rejected,
                held_seconds=held_seconds,
                spot_checked=spot_checked,
                spot_probability=probability,
                spot_band=band,
                reported=reported,
                report_rejected=report_rejected,
            )
        )
    return Simulation(
        comments=comments,
        labels=models,
        thresholds=limits,
        base_rate=base_rate,
        moderator_error=moderator_error,
        spot_check_rate=spot_check_rate,
    )
