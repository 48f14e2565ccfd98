"""The calibration's tables kept as comments are scored and decided: score bins, spot-check draws,
and the evidence rows every kind of human verdict leaves (services/calibration/evidence.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select

from comments import transaction
from comments.extensions import db as _db
from comments.models import CalibrationEvidence, Comment, ScoreBin, SpotCheck
from comments.services import reports, scoring
from comments.services.accounts import create_moderator
from comments.services.calibration import estimates, evidence
from comments.services.review import decisions, spot_checks
from comments.services.review.access import HostReviewer
from comments.services.submission import NewComment, resubmit, submit
from tests.helpers import PASSWORD, FixedClassifier, HeldBackScoring, make_comment, score_batch, set_settings

TOXIC = {"toxicity": 0.9, "insult": 0.75}  # held by two labels (thresholds 0.7)
CLEAN = {"toxicity": 0.02}  # far from every threshold
NEAR = {"toxicity": 0.6}  # just under the threshold: the "edge" band


@pytest.fixture()
def always_drawn():
    """Every draw succeeds (the probability still decides: 0 draws nothing)."""
    evidence.sampler = SimpleNamespace(random=lambda: 0.0)


@pytest.fixture()
def never_drawn():
    evidence.sampler = SimpleNamespace(random=lambda: 1.0)


@pytest.fixture()
def other(db):
    account = create_moderator("other@news.example", PASSWORD, [])
    db.session.commit()
    return account


def _rows(comment_id: int) -> dict[str, CalibrationEvidence]:
    _db.session.expire_all()
    found = _db.session.execute(select(CalibrationEvidence).where(CalibrationEvidence.comment_id == comment_id))
    return {row.label: row for row in found.scalars()}


def _kinds(comment_id: int) -> set[tuple[str, bool]]:
    """(source, bad) of a comment's rows: one kind for all its labels."""
    return {(row.source, row.bad) for row in _rows(comment_id).values()}


def _check(comment_id: int) -> SpotCheck | None:
    _db.session.expire_all()
    return _db.session.get(SpotCheck, comment_id)


def _bins(site_id: int) -> dict[tuple[str, int], tuple[int, int, int]]:
    rows = _db.session.execute(select(ScoreBin).where(ScoreBin.site_id == site_id)).scalars()
    found: dict[tuple[str, int], tuple[int, int, int]] = {}
    for row in rows:
        before = found.get((row.label, row.bin), (0, 0, 0))
        found[(row.label, row.bin)] = (before[0] + row.scored, before[1] + row.held, before[2] + row.published)
    return found


def _scored_per_label(site_id: int) -> dict[str, int]:
    rows = _db.session.execute(
        select(ScoreBin.label, func.sum(ScoreBin.scored)).where(ScoreBin.site_id == site_id).group_by(ScoreBin.label)
    )
    return {label: int(total) for label, total in rows}


def _edit(comment: Comment, body: str, scores: dict[str, float]) -> None:
    with transaction.unit_of_work():
        resubmit(_db.session.get(Comment, comment.id), body, HeldBackScoring())
    score_batch(FixedClassifier({body: scores}), ids=[comment.id])


def _report(comment: Comment, times: int = 3) -> None:
    for i in range(times):
        with transaction.unit_of_work():
            reports.report(_db.session.get(Comment, comment.id), "abuse", "", f"198.51.100.{i + 1}")


# --- score distributions --------------------------------------------------------------------------


def test_every_scoring_adds_to_the_bins_and_their_sums_equal_the_scorings(db, site, never_drawn):
    held = make_comment(site, "you are awful", scores=TOXIC)
    published = make_comment(site, "nice article", scores=CLEAN, ip="192.0.2.2")
    bins = _bins(site.id)
    assert bins[("toxicity", 90)] == (1, 1, 0)
    assert bins[("insult", 75)] == (1, 1, 0)
    assert bins[("toxicity", 2)] == (1, 0, 1)
    labels = set(FixedClassifier.labels)
    assert _scored_per_label(site.id) == dict.fromkeys(labels, 2)  # every label of every scoring
    # Re-scoring after an edit counts again (another scoring of another text).
    _edit(published, "nice article, really", NEAR)
    assert _bins(site.id)[("toxicity", 60)] == (1, 0, 1)
    assert _scored_per_label(site.id) == dict.fromkeys(labels, 3)
    # A model change (rescore --apply) scores every undecided comment again: counted too.
    model = FixedClassifier({"you are awful": CLEAN, "nice article, really": NEAR})
    site_id, held_id = site.id, held.id  # rescore leaves the session empty
    scoring.rescore(model, apply=True, commit_each=db.session.commit)
    assert _scored_per_label(site_id) == dict.fromkeys(labels, 5)
    assert _bins(site_id)[("toxicity", 2)] == (2, 0, 2)  # the held one, published by the new model
    assert db.session.get(Comment, held_id).status == "published"
    assert {row.model for row in db.session.execute(select(ScoreBin)).scalars()} == {"fixed@test"}


def test_a_scoring_batch_adds_to_the_bins_with_one_statement(db, site, never_drawn):
    texts = {f"comment number {i}": {"toxicity": i / 10} for i in range(8)}
    held_back = HeldBackScoring()
    for i, body in enumerate(texts):
        with transaction.unit_of_work():
            submit(site, "article-1", NewComment(body=body, author_name="Ann", client_ip=f"192.0.2.{i}"), held_back)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "score_bins" in statement:
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        run = score_batch(FixedClassifier(texts), ids=held_back.ids)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert run.scored == 8
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")
    assert sum(scored for scored, _, _ in _bins(site.id).values()) == 8 * len(FixedClassifier.labels)


def test_a_comment_never_scored_leaves_no_bins(db, site):
    comment = make_comment(site, "no classifier here")  # no scoring in this app: the rules decide
    assert comment.status == "published"
    assert _bins(site.id) == {}


# --- the draw of spot checks ----------------------------------------------------------------------


def test_machine_published_comments_are_drawn_with_their_probability(db, site, always_drawn):
    near = make_comment(site, "almost rude", scores=NEAR)
    clean = make_comment(site, "lovely", scores=CLEAN, ip="192.0.2.2")
    held = make_comment(site, "you are awful", scores=TOXIC, ip="192.0.2.3")
    thresholds = dict.fromkeys(FixedClassifier.labels, 0.7)  # the defaults
    for comment in (near, clean):
        check = _check(comment.id)
        assert check is not None
        assert (check.probability, check.band) == estimates.spot_check_probability(comment.scores, thresholds, 0.01)
    assert _check(near.id).band == "edge" and _check(clean.id).band == "far"
    assert _check(near.id).probability > _check(clean.id).probability
    assert _check(held.id) is None  # held: the moderators see it anyway
    assert db.session.get(Comment, near.id).status == "published"  # published at once all the same


def test_rate_zero_draws_nothing(db, site, always_drawn):
    set_settings(site, spot_check_rate=0)
    for i, scores in enumerate([NEAR, CLEAN, {"toxicity": 0.69}]):
        make_comment(site, f"comment {i}", scores=scores, ip=f"192.0.2.{i}")
    assert db.session.execute(select(func.count()).select_from(SpotCheck)).scalar_one() == 0


def test_rate_one_draws_every_machine_published_comment_with_probability_one(db, site):
    set_settings(site, spot_check_rate=1)
    evidence.sampler = SimpleNamespace(random=lambda: 0.999999)  # only a probability of 1 draws this
    bodies = [(f"comment {i}", {"toxicity": 0.01 + i * 0.09}) for i in range(8)]  # far, near and edge bands
    comments = [make_comment(site, body, scores=scores, ip=f"192.0.2.{i}") for i, (body, scores) in enumerate(bodies)]
    checks = [_check(c.id) for c in comments]
    assert all(check is not None and check.probability == 1.0 for check in checks[:8])


def test_shadow_mode_publishes_and_draws_what_it_would_have_held(db, site, always_drawn):
    set_settings(site, shadow_mode=True)
    comment = make_comment(site, "you are awful", scores=TOXIC)
    assert comment.status == "published"
    check = _check(comment.id)
    assert check is not None and check.band == "edge"


def test_an_edit_draws_again_but_an_answer_stays(db, site, moderator, always_drawn):
    comment = make_comment(site, "almost rude", scores=NEAR)
    first = _check(comment.id)
    assert first is not None
    evidence.sampler = SimpleNamespace(random=lambda: 1.0)  # the edit's draw fails
    _edit(comment, "now clean", CLEAN)
    assert _check(comment.id) is None  # the unanswered check was the old text's
    evidence.sampler = SimpleNamespace(random=lambda: 0.0)
    _edit(comment, "almost rude again", NEAR)
    spot_checks.answer(moderator, comment.id, "fine")
    db.session.commit()
    _edit(comment, "rude once more", NEAR)
    assert _check(comment.id).verdict == "fine"  # a moderator's answer is not thrown away


# --- evidence from decisions ----------------------------------------------------------------------


def test_a_decided_hold_is_evidence_for_every_label(db, site, moderator, never_drawn):
    comment = make_comment(site, "you are awful", scores=TOXIC)
    decisions.decide(moderator, comment.id, "reject", reason="abuse")
    db.session.commit()
    rows = _rows(comment.id)
    assert set(rows) == set(comment.scores)
    toxicity = rows["toxicity"]
    assert (toxicity.source, toxicity.bad, toxicity.weight) == ("hold", True, 1.0)
    assert toxicity.bin == 90 and toxicity.score == pytest.approx(0.9)
    assert toxicity.held_by_label and rows["insult"].held_by_label and not rows["threat"].held_by_label
    assert toxicity.held_seconds is not None and 0 <= toxicity.held_seconds < 60
    assert toxicity.model == "fixed@test" and toxicity.decider_type == "moderator"
    assert toxicity.site_id == site.id


def test_undo_removes_the_evidence_and_a_reversal_replaces_it(db, site, moderator, never_drawn):
    comment = make_comment(site, "you are awful", scores=TOXIC)
    decisions.decide(moderator, comment.id, "approve")
    assert _kinds(comment.id) == {("hold", False)}
    decisions.undo_decision(moderator, comment.id)
    assert _rows(comment.id) == {}
    decisions.decide(moderator, comment.id, "reject")
    assert _kinds(comment.id) == {("hold", True)}


def test_a_later_different_decision_replaces_the_earlier_and_its_undo_restores_it(db, site, moderator, other):
    comment = make_comment(site, "you are awful", scores=TOXIC)
    approved = decisions.decide(moderator, comment.id, "approve")
    db.session.commit()
    waited = _rows(comment.id)["toxicity"].held_seconds
    decisions.decide(other, comment.id, "reject", expected_version=approved.version)
    db.session.commit()
    rows = _rows(comment.id)
    assert _kinds(comment.id) == {("hold", True)}
    assert rows["toxicity"].held_seconds == waited  # the time it waited in the queue, not since
    decisions.undo_decision(other, comment.id)
    db.session.commit()
    assert _kinds(comment.id) == {("hold", False)}  # the earlier verdict stands again


def test_a_host_keys_decision_is_evidence_from_the_host(db, site, never_drawn):
    comment = make_comment(site, "you are awful", scores=TOXIC)
    decisions.decide(HostReviewer("news", "abcd1234"), comment.id, "approve")
    db.session.commit()
    assert {row.decider_type for row in _rows(comment.id).values()} == {"host"}


def test_a_rule_hold_with_scores_is_evidence_not_held_by_any_label(db, site, moderator, never_drawn):
    set_settings(site, suspect_words=["crypto"])
    comment = make_comment(site, "crypto tips", scores=CLEAN)
    assert comment.status == "held"
    decisions.decide(moderator, comment.id, "approve")
    rows = _rows(comment.id)
    assert _kinds(comment.id) == {("hold", False)} and not any(row.held_by_label for row in rows.values())


def test_automatic_rejections_and_unscored_comments_are_not_evidence(db, site, moderator, never_drawn):
    set_settings(site, reject_thresholds={"toxicity": 0.8}, premoderation="all")
    rejected = make_comment(site, "you are awful", scores=TOXIC)
    assert rejected.status == "rejected"
    unscored = make_comment(site, "never scored", ip="192.0.2.2")  # held by premoderation, no scores
    decisions.decide(moderator, unscored.id, "approve")
    db.session.commit()
    assert db.session.execute(select(func.count()).select_from(CalibrationEvidence)).scalar_one() == 0


def test_a_published_comment_a_moderator_rejects_unreported_is_not_evidence(db, site, moderator, never_drawn):
    comment = make_comment(site, "lovely", scores=CLEAN)
    decisions.decide(moderator, comment.id, "reject", expected_version=comment.version)
    assert _rows(comment.id) == {}


# --- reports and spot checks ----------------------------------------------------------------------


def test_a_rejected_report_is_evidence_and_replaces_a_spot_checks(db, site, moderator, always_drawn):
    comment = make_comment(site, "almost rude", scores=NEAR)
    check = spot_checks.answer(moderator, comment.id, "fine")
    db.session.commit()
    rows = _rows(comment.id)
    assert _kinds(comment.id) == {("spot_check", False)}
    assert rows["toxicity"].weight == pytest.approx(1 / check.probability)
    _report(comment)
    assert _kinds(comment.id) == {("spot_check", False)}  # reports alone change nothing
    decisions.decide(moderator, comment.id, "reject")
    db.session.commit()
    assert _kinds(comment.id) == {("report", True)}
    decisions.undo_decision(moderator, comment.id)
    db.session.commit()
    assert _kinds(comment.id) == {("spot_check", False)}  # back to the sample's answer


def test_a_reported_comment_approved_is_not_evidence_unless_spot_checked(db, site, moderator, never_drawn):
    comment = make_comment(site, "almost rude", scores=NEAR)
    _report(comment)
    decisions.decide(moderator, comment.id, "approve")
    db.session.commit()
    assert _rows(comment.id) == {}


def test_a_spot_check_answer_with_removal_rejects_and_counts_as_the_sample(db, site, moderator, always_drawn):
    comment = make_comment(site, "almost rude", scores=NEAR)
    spot_checks.answer(moderator, comment.id, "should_have_been_held", remove=True, reason="abuse")
    db.session.commit()
    assert db.session.get(Comment, comment.id).status == "rejected"
    assert _kinds(comment.id) == {("spot_check", True)}
    # Undo takes back the removal and the answer: the check waits again, no evidence is left.
    spot_checks.undo_answer(moderator, comment.id)
    db.session.commit()
    assert db.session.get(Comment, comment.id).status == "published"
    assert _check(comment.id).verdict is None and _rows(comment.id) == {}


def test_a_spot_check_after_a_decided_hold_leaves_the_hold(db, site, moderator, always_drawn):
    comment = make_comment(site, "almost rude", scores=NEAR)  # drawn
    _edit(comment, "you are awful", TOXIC)  # held now; the unanswered check was the old text's
    decisions.decide(moderator, comment.id, "approve")
    db.session.commit()
    assert _check(comment.id) is None and _kinds(comment.id) == {("hold", False)}


def test_the_backlog_counts_waiting_checks_of_published_comments_per_site(db, site, moderator, always_drawn):
    comments = [make_comment(site, f"almost rude {i}", scores=NEAR, ip=f"192.0.2.{i}") for i in range(3)]
    assert evidence.spot_check_backlog() == {site.id: 3}
    spot_checks.answer(moderator, comments[0].id, "fine")
    decisions.decide(moderator, comments[1].id, "reject", expected_version=comments[1].version)
    db.session.commit()
    assert evidence.spot_check_backlog([site.id]) == {site.id: 1}
    assert evidence.spot_check_backlog([site.id + 1]) == {}


# --- red team: an edit makes the earlier verdict about another text ---------------------------------


def test_an_edit_after_a_decided_hold_takes_the_verdict_of_the_old_text_away(db, site, moderator, never_drawn):
    """The verdict was on the old text (the module's spec: evidence is "for the comment's current
    text"); an approved hold whose author rewrites it must not keep counting as approved with the
    old text's score while the new text waits, or after it is published unchecked."""
    comment = make_comment(site, "you are awful", scores=TOXIC)
    decisions.decide(moderator, comment.id, "approve")
    db.session.commit()
    assert _kinds(comment.id) == {("hold", False)}
    _edit(comment, "you are all awful, every one of you", TOXIC)
    assert _db.session.get(Comment, comment.id).status == "held"  # waiting for a new verdict
    assert _rows(comment.id) == {}


def test_an_undone_report_rejection_leaves_no_evidence(db, site, moderator, never_drawn):
    comment = make_comment(site, "fine words", scores=CLEAN)
    _report(comment)
    decisions.decide(moderator, comment.id, "reject", reason="abuse")
    db.session.commit()
    assert _kinds(comment.id) == {("report", True)}
    decisions.undo_decision(moderator, comment.id)
    db.session.commit()
    assert _rows(comment.id) == {}


@pytest.mark.xfail(
    strict=True,
    reason="red team, not fixed: score_bins count scorings, so a rescore (or an edit) counts a comment "
    "again, with another model's scores, and the hold rate, est_held and recall's denominator grow",
)
def test_a_rescore_does_not_count_the_comment_twice_in_the_bins(db, site, never_drawn):
    site_id = site.id  # the rescore expunges the session's objects
    make_comment(site, "fine words", scores=CLEAN)
    db.session.commit()
    scoring.rescore(FixedClassifier({"fine words": NEAR}), site_id=site_id, apply=True, commit_each=db.session.commit)
    assert _scored_per_label(site_id)["toxicity"] == 1
