"""Author records of signed-in readers: found or made once per site and user, kept in step with
the token, and made once when the same new reader posts twice at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from comments.extensions import db as _db
from comments.models import Author, AuthorName, AuthorStatus, Site, utcnow
from comments.services import readers, sso
from comments.services.errors import Forbidden
from comments.services.sites import create_site
from tests.helpers import TEST_DATABASE_URL, make_comment, new_sso_secret, sso_token


def _reader(site, secret, **user) -> sso.Reader:
    return sso.verify_token(site, sso_token(secret, user={"id": "u-1", "username": "Ann", **user}))


def _authors(db) -> int:
    return db.session.execute(select(func.count()).select_from(Author)).scalar_one()


def test_a_reader_is_one_author_per_site_kept_in_step_with_the_token(db, site, secret):
    first = readers.for_reader(site, _reader(site, secret, badges=["a"]))
    db.session.commit()
    again = readers.for_reader(
        site, _reader(site, secret, username="Ann B.", badges=["b"], role="STAFF", url="https://x.example/ann")
    )
    db.session.commit()
    assert again.id == first.id and _authors(db) == 1
    assert (again.name, again.badges, again.role, again.url, again.verified) == (
        "Ann B.",
        ["b"],
        "STAFF",
        "https://x.example/ann",
        True,
    )
    assert again.author_key == readers.sso_author_key(site, "u-1") and "u-1" not in again.author_key
    names = db.session.scalars(select(AuthorName.name).where(AuthorName.author_id == first.id)).all()
    assert sorted(names) == ["Ann", "Ann B."]


def test_the_same_user_id_on_two_sites_is_two_authors(db, site, secret):
    other, _ = create_site("other", [])
    db.session.commit()
    other_secret = new_sso_secret(other)
    here = readers.for_reader(site, _reader(site, secret))
    there = readers.for_reader(other, _reader(other, other_secret))
    db.session.commit()
    assert here.id != there.id and here.author_key != there.author_key


def test_known_reader_only_reads(db, site, secret):
    reader = _reader(site, secret)
    assert readers.known_reader(site, reader) is None
    assert _authors(db) == 0
    made = readers.for_reader(site, reader)
    db.session.commit()
    assert readers.known_reader(site, reader).id == made.id


def test_a_banned_or_suspended_signed_in_author_is_refused(db, site, secret):
    author = readers.for_reader(site, _reader(site, secret))
    author.status = AuthorStatus.BANNED.value
    with pytest.raises(Forbidden) as caught:
        readers.check_may_post(author)
    assert caught.value.code == "author_banned"
    author.status = AuthorStatus.SUSPENDED.value
    author.status_until = utcnow() + timedelta(hours=1)
    with pytest.raises(Forbidden) as caught:
        readers.check_may_post(author)
    assert caught.value.code == "author_suspended" and caught.value.fields["until"].endswith("Z")
    author.status_until = utcnow() - timedelta(seconds=1)
    readers.check_may_post(author)  # served


def test_a_new_author_made_meanwhile_is_found_not_a_500(db, site, secret, monkeypatch):
    """The IntegrityError path: another request made the author between our look and our insert."""
    reader = _reader(site, secret)
    made_elsewhere = readers.for_reader(site, reader)
    db.session.commit()
    real_find = readers._find
    calls = []

    def find_late(site_id, author_key):
        calls.append(author_key)
        return None if len(calls) == 1 else real_find(site_id, author_key)

    monkeypatch.setattr(readers, "_find", find_late)
    found = readers.for_reader(site, reader)
    db.session.commit()  # the savepoint's failure left the transaction usable
    assert found.id == made_elsewhere.id and len(calls) == 2
    assert _authors(db) == 1


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="two writers at once need PostgreSQL (SQLite takes one at a time)")
def test_two_first_posts_of_the_same_reader_at_once_make_one_author(app, db, site, secret, monkeypatch):
    reader = _reader(site, secret, username="Twin")
    site_id = site.id
    both_looked = threading.Barrier(2, timeout=10)
    looked = threading.local()
    real_find = readers._find

    def find_together(site_id, author_key):
        found = real_find(site_id, author_key)
        if not getattr(looked, "once", False):
            looked.once = True
            both_looked.wait()  # both have seen no author before either makes one
        return found

    monkeypatch.setattr(readers, "_find", find_together)
    results: list[object] = []

    def first_post() -> None:
        try:
            with app.app_context():
                author = readers.for_reader(_db.session.get(Site, site_id), reader)
                _db.session.commit()
                results.append(author.id)
        except Exception as exc:  # the assertion below shows it
            results.append(exc)

    workers = [threading.Thread(target=first_post) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(results) == 2 and all(isinstance(r, int) for r in results), results
    assert results[0] == results[1]
    assert _authors(db) == 1
    names = db.session.execute(select(func.count()).select_from(AuthorName)).scalar_one()
    assert names == 1


def test_a_comment_whose_author_key_names_nobody_gets_an_author_of_its_own(db, site):
    erased = [make_comment(site, f"Gone {n}", ip=f"192.0.2.{n}") for n in (1, 2)]
    for comment in erased:
        comment.author_key, comment.author_id = "erased", None
    db.session.flush()
    first, second = (readers.author_of(c) for c in erased)
    # Not one record lumping everyone erased together (a ban on it would mean nothing, a panel less).
    assert first.id != second.id
    assert {first.author_key, second.author_key} == {f"erased:{c.id}" for c in erased}


def test_a_suspension_ends_in_the_future_and_within_ten_years():
    from comments.services.errors import Invalid

    now = utcnow()
    longest = readers.LONGEST_SUSPENSION
    readers.check_status_change(AuthorStatus.SUSPENDED, now + timedelta(seconds=1), now)
    readers.check_status_change(AuthorStatus.SUSPENDED, now + longest, now)
    for until, code in (
        (now, "until_past"),
        (now + longest + timedelta(seconds=1), "until_too_far"),
        (None, "until_required"),
    ):
        with pytest.raises(Invalid) as refused:
            readers.check_status_change(AuthorStatus.SUSPENDED, until, now)
        assert refused.value.code == code and set(refused.value.fields) == {"until"}
