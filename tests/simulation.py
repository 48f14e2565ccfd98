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
simulate``): the standard library and ``comments.services.calibration.estimates`` only. For a
million comments, ``generate(seed, n, make_site(...))`` yields them one at a time and ``Tally``
adds them up, with ``evidence(comment, thresholds)`` the rows to load, so nothing is kept.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class SimulatedComment:
    """One comment of the simulation; ``id`` counts from 1 in publication order (spread the
    comments over days as a test needs).

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


@dataclass(frozen=True, slots=True)
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


def evidence(comment: SimulatedComment, thresholds: Mapping[str, float]) -> list[EvidenceRow]:
    """The comment's evidence rows, one per label, by the rules of the design (spec17): a decided
    hold; else a rejected report (which replaces a spot check of the same comment); else an
    answered spot check. A report approved is no evidence; nor is a comment nobody judged."""
    if comment.held and comment.decided:
        assert comment.rejected is not None
        source, bad, weight = "hold", comment.rejected, 1.0
    elif comment.report_rejected:
        source, bad, weight = "report", True, 1.0
    elif comment.spot_checked and comment.decided:
        assert comment.rejected is not None
        source, bad, weight = "spot_check", comment.rejected, 1 / comment.spot_probability
    else:
        return []
    return [
        EvidenceRow(
            comment_id=comment.id,
            label=label,
            score=score,
            bin=estimates.score_bin(score),
            source=source,
            bad=bad,
            weight=weight,
            held_by_label=comment.held and score >= thresholds[label],
            held_seconds=comment.held_seconds if source == "hold" else None,
        )
        for label, score in comment.scores.items()
    ]


class Tally:
    """``LabelData`` per label, added up comment by comment as the database side aggregates it
    (score bins counted at scoring time, evidence rows summed by bin): for a million comments,
    tally them as :func:`generate` yields them instead of keeping them."""

    def __init__(self, thresholds: Mapping[str, float]):
        self.thresholds = dict(thresholds)
        self.data = {label: LabelData.empty(threshold) for label, threshold in thresholds.items()}
        self.decisions = 0

    def add(self, comment: SimulatedComment) -> None:
        for label, score in comment.scores.items():
            data = self.data[label]
            b = estimates.score_bin(score)
            data.population[b] += 1
            if comment.held:
                data.held[b] += 1
            else:
                data.published[b] += 1
        rows = evidence(comment, self.thresholds)
        self.decisions += bool(rows)
        for row in rows:
            data = self.data[row.label]
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


DecidedShare = float | Callable[[Mapping[str, float]], float]


@dataclass(frozen=True)
class Site:
    """What is simulated: the comments' truth and scores, the site's thresholds, its moderators and
    readers. See :func:`simulate` for each parameter."""

    labels: dict[str, LabelScores]
    thresholds: dict[str, float]
    base_rate: float = 0.08
    correlation: float = 0.6
    moderator_error: float = 0.0
    spot_check_rate: float = 0.05
    decided_share: DecidedShare = 1.0
    report_rate: float = 0.2
    false_report_rate: float = 0.002
    mean_hold_seconds: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("base_rate", "correlation", "moderator_error", "spot_check_rate", "report_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0 <= self.false_report_rate <= 1 or set(self.thresholds) != set(self.labels):
            raise ValueError("false_report_rate must be between 0 and 1, and every label needs a threshold")

    # --- the truth, exact ---------------------------------------------------------------------------

    def true_hold_rate(self, label: str, threshold: float) -> float:
        """The expected share of comments at or over ``threshold`` for ``label``."""
        scores = self.labels[label]
        return self.base_rate * scores.share_at_or_over(threshold, True) + (
            1 - self.base_rate
        ) * scores.share_at_or_over(threshold, False)

    def true_precision(self, label: str, threshold: float) -> float | None:
        """The expected share of comments at or over ``threshold`` that are abusive (None when no
        comment would be)."""
        held = self.true_hold_rate(label, threshold)
        return None if held == 0 else self.base_rate * self.labels[label].share_at_or_over(threshold, True) / held

    def true_recall(self, label: str, threshold: float) -> float:
        """The expected share of abusive comments at or over ``threshold``."""
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


def generate(seed: int, n: int, site: Site) -> Iterator[SimulatedComment]:
    """The ``n`` comments of ``site``, one at a time, drawn from ``random.Random(seed)``."""
    rng = random.Random(seed)
    models, limits = site.labels, site.thresholds
    shared_weight, own_weight = site.correlation, math.sqrt(1 - site.correlation * site.correlation)
    decided_share = site.decided_share

    def verdict(abusive: bool) -> bool:
        return abusive != (rng.random() < site.moderator_error)

    def chance_decided(scores: Mapping[str, float]) -> float:
        return decided_share(scores) if callable(decided_share) else decided_share

    for comment_id in range(1, n + 1):
        abusive = rng.random() < site.base_rate
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
                held_seconds = rng.expovariate(1 / site.mean_hold_seconds)
        else:
            probability, band = estimates.spot_check_probability(scores, limits, site.spot_check_rate)
            if rng.random() < probability:
                spot_checked = True
                if rng.random() < chance_decided(scores):
                    decided, rejected = True, verdict(abusive)
            if rng.random() < (site.report_rate if abusive else site.false_report_rate):
                reported = True
                report_rejected = verdict(abusive)
        yield SimulatedComment(
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


@dataclass
class Simulation:
    """A simulated site's comments, what the service would make of them, and the truth."""

    site: Site
    comments: list[SimulatedComment]
    _tally: Tally | None = field(default=None, repr=False)

    @property
    def labels(self) -> dict[str, LabelScores]:
        return self.site.labels

    @property
    def thresholds(self) -> dict[str, float]:
        return self.site.thresholds

    @property
    def tally(self) -> Tally:
        if self._tally is None:
            self._tally = Tally(self.site.thresholds)
            for comment in self.comments:
                self._tally.add(comment)
        return self._tally

    @property
    def decisions(self) -> int:
        """Decided comments: decided holds, answered spot checks, rejected reports (each once)."""
        return self.tally.decisions

    def evidence(self, label: str) -> list[EvidenceRow]:
        """The evidence rows of ``label``."""
        return [row for c in self.comments for row in evidence(c, self.thresholds) if row.label == label]

    def label_data(self, label: str) -> LabelData:
        return self.tally.data[label]

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
        return self.site.true_hold_rate(label, threshold)

    def true_precision(self, label: str, threshold: float) -> float | None:
        return self.site.true_precision(label, threshold)

    def true_recall(self, label: str, threshold: float) -> float:
        return self.site.true_recall(label, threshold)

    def true_f1(self, label: str, threshold: float) -> float:
        return self.site.true_f1(label, threshold)

    def true_threshold(
        self, label: str, objective: Objective, thresholds: Sequence[float] | None = None
    ) -> float | None:
        return self.site.true_threshold(label, objective, thresholds)


def make_site(
    *,
    labels: Mapping[str, LabelScores] | Sequence[str] = ("toxicity", "insult", "threat"),
    thresholds: Mapping[str, float] | float = 0.7,
    **parameters: Any,
) -> Site:
    """A :class:`Site`: ``labels`` as names (scored as :func:`default_label_scores`) or each
    label's :class:`LabelScores`; ``thresholds`` per label or one for all; the rest as :func:`simulate`."""
    models = dict(labels) if isinstance(labels, Mapping) else default_label_scores(labels)
    limits = dict(thresholds) if isinstance(thresholds, Mapping) else dict.fromkeys(models, thresholds)
    return Site(labels=models, thresholds=limits, **parameters)


def simulate(
    seed: int,
    n: int,
    *,
    labels: Mapping[str, LabelScores] | Sequence[str] = ("toxicity", "insult", "threat"),
    thresholds: Mapping[str, float] | float = 0.7,
    **parameters: Any,
) -> Simulation:
    """``n`` comments of a site, drawn from ``random.Random(seed)``, kept with the truth.

    Parameters (defaults in :class:`Site`): ``base_rate`` the share of abusive comments;
    ``correlation`` the weight of the latent the labels of a comment share; ``moderator_error`` the
    chance a moderator's verdict is flipped; ``spot_check_rate`` the site's sampling rate
    (``estimates.spot_check_probability``); ``decided_share`` the chance a hold is decided and a
    spot check answered, or a function of the comment's scores (decisions missing at random given
    the scores); ``report_rate`` the chance readers report a published abusive comment,
    ``false_report_rate`` a clean one (moderators decide every report, with the same error);
    ``mean_hold_seconds`` the mean wait of a decided hold (exponential)."""
    site = make_site(labels=labels, thresholds=thresholds, **parameters)
    return Simulation(site=site, comments=list(generate(seed, n, site)))
