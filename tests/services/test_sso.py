"""Single sign-on: the sites' secrets (encrypted at rest, rotated with an overlap) and the tokens
their hosts sign (every bad one refused with its reason), sign-out by ``jti``, the identity modes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from comments import transaction
from comments.models import AuditEvent, RevokedToken, SsoSecret, utcnow
from comments.services import sso
from comments.services.errors import Unauthorized
from tests.helpers import BAD_SSO_TOKENS, new_sso_secret, set_settings, sso_token


def _refused(site, token, **options) -> str:
    with pytest.raises(Unauthorized) as caught:
        sso.verify_token(site, token, **options)
    assert caught.value.code == "invalid_token"
    return caught.value.message


# --- tokens -----------------------------------------------------------------------------------


def test_a_good_token_gives_the_reader_as_the_host_says(site, secret):
    now = int(time.time())
    user = {
        "id": 4711,  # Coral's ids are strings; a number is read as one
        "username": "  Ann Example ",
        "email": "Ann@Example.org",
        "badges": ["subscriber", "staff", "subscriber"],
        "role": "COMMENTER",
        "url": "https://news.example/users/4711",
    }
    reader = sso.verify_token(site, sso_token(secret, user=user, jti="j-1", iat=now, exp=now + 600))
    assert reader.user_id == "4711"
    assert reader.username == "Ann Example"
    assert reader.email == "Ann@Example.org"
    assert reader.badges == ("subscriber", "staff")
    assert reader.role == "COMMENTER" and reader.url == "https://news.example/users/4711"
    assert reader.jti == "j-1"
    assert reader.issued_at is not None and int(reader.issued_at.timestamp()) == now
    assert int(reader.expires_at.timestamp()) == now + 600


def test_a_token_with_only_iat_expires_30_days_after_it(site, secret):
    now = int(time.time())
    reader = sso.verify_token(site, sso_token(secret, iat=now, exp=None))
    assert int(reader.expires_at.timestamp()) == now + 30 * 86400
    assert sso.verify_token(site, sso_token(secret, iat=None)).issued_at is None


def test_a_small_clock_skew_is_forgiven(site, secret):
    now = int(time.time())
    assert sso.verify_token(site, sso_token(secret, iat=now + 30, exp=now + 600)).username == "Reader One"
    assert sso.verify_token(site, sso_token(secret, iat=now - 600, exp=now - 30)).username == "Reader One"


@pytest.mark.parametrize("make,reason", [(m, r) for _, m, r in BAD_SSO_TOKENS], ids=[n for n, _, _ in BAD_SSO_TOKENS])
def test_every_bad_token_is_refused_with_its_reason(site, secret, other_secret, make, reason):
    message = _refused(site, make(secret, other_secret))
    assert message.startswith("The sign-in token is not valid: ")
    assert reason in message


def test_a_site_without_a_secret_refuses_every_token(site):
    assert "no SSO secret" in _refused(site, sso_token("sso_" + "x" * 43))


@pytest.mark.parametrize("token", ["", "   ", "é" * 5000])
def test_empty_and_oversized_tokens(site, secret, token):
    assert "bytes" in _refused(site, token)


# --- secrets ----------------------------------------------------------------------------------


def test_the_secret_is_not_stored_in_clear_and_its_issue_is_audited(db, site, secret):
    row = db.session.execute(select(SsoSecret)).scalar_one()
    assert secret not in row.ciphertext and secret.removeprefix("sso_") not in row.ciphertext
    assert len(secret) >= 40
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sso_secret_issued")).all()
    assert [(e.site_id, e.actor_type) for e in events] == [(site.id, "operator")]


def test_another_encryption_key_cannot_use_the_stored_secret(app, db, site, secret, monkeypatch):
    token = sso_token(secret)
    monkeypatch.setitem(app.config, "SSO_ENCRYPTION_KEY", "a key the database was never encrypted with")
    assert "no SSO secret" in _refused(site, token)


def test_a_key_list_decrypts_rows_of_the_old_key_and_encrypts_with_the_first(app, db, site, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_ENCRYPTION_KEY", "old key")
    old = new_sso_secret(site)
    monkeypatch.setitem(app.config, "SSO_ENCRYPTION_KEY", "new key, old key")
    assert sso.verify_token(site, sso_token(old)).user_id == "reader-1"
    new = new_sso_secret(site)
    monkeypatch.setitem(app.config, "SSO_ENCRYPTION_KEY", "new key")
    assert sso.verify_token(site, sso_token(new)).user_id == "reader-1"
    assert "no SSO secret" not in _refused(site, sso_token(old))  # the old row is unreadable, the new one is not


def test_the_replaced_secret_works_for_24_hours_and_no_longer(db, site, secret):
    newer = new_sso_secret(site)
    for key in (secret, newer):
        assert sso.verify_token(site, sso_token(key)).user_id == "reader-1"
    retired = db.session.execute(select(SsoSecret).where(SsoSecret.retired_at.is_not(None))).scalar_one()
    # The rows changed behind the service's back: forget the process's copy, as SECRETS_TTL_SECONDS would.
    retired.retired_at = utcnow() - timedelta(hours=23, minutes=59)
    db.session.commit()
    sso.forget_secrets()
    assert sso.verify_token(site, sso_token(secret)).user_id == "reader-1"
    retired.retired_at = utcnow() - timedelta(hours=24, minutes=1)
    db.session.commit()
    sso.forget_secrets()
    assert "signature does not match" in _refused(site, sso_token(secret))
    assert sso.verify_token(site, sso_token(newer)).user_id == "reader-1"


def test_a_third_secret_retires_the_second_and_forgets_the_first(db, site, secret):
    second = new_sso_secret(site)
    first_row = db.session.execute(select(SsoSecret).order_by(SsoSecret.id)).scalars().first()
    first_row.retired_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    third = new_sso_secret(site)  # issuing drops the process's copy of the secrets
    rows = db.session.execute(select(SsoSecret).order_by(SsoSecret.id)).scalars().all()
    assert len(rows) == 2 and rows[0].retired_at is not None and rows[1].retired_at is None
    assert sso.verify_token(site, sso_token(second)).user_id == "reader-1"  # within its 24 hours
    assert sso.verify_token(site, sso_token(third)).user_id == "reader-1"
    assert "signature does not match" in _refused(site, sso_token(secret))


def test_secrets_are_per_site(site, secret, other_secret):
    assert secret != other_secret
    assert "signature does not match" in _refused(site, sso_token(other_secret))


# --- signing out ------------------------------------------------------------------------------


def test_a_revoked_jti_is_refused_until_its_token_would_have_expired(db, site, secret):
    token = sso_token(secret, jti="session-1")
    reader = sso.verify_token(site, token)
    with transaction.unit_of_work():
        assert sso.revoke(site, reader) is True
        assert sso.revoke(site, reader) is True  # twice: still one row
    assert db.session.execute(select(func.count()).select_from(RevokedToken)).scalar_one() == 1
    assert "signed out" in _refused(site, token)
    assert sso.verify_token(site, token, revoked_ok=True).jti == "session-1"
    assert sso.verify_token(site, sso_token(secret, jti="session-2")).jti == "session-2"
    stored = db.session.execute(select(RevokedToken)).scalar_one()
    assert "session-1" not in stored.jti_hash

    assert sso.purge_revoked(utcnow()) == 0  # not expired yet
    with transaction.unit_of_work():
        assert sso.purge_revoked(reader.expires_at + timedelta(minutes=2)) == 1


def test_a_token_without_jti_has_nothing_to_revoke(db, site, secret):
    reader = sso.verify_token(site, sso_token(secret))
    with transaction.unit_of_work():
        assert sso.revoke(site, reader) is False
    assert db.session.execute(select(func.count()).select_from(RevokedToken)).scalar_one() == 0


# --- identity modes ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode,anonymous_may", [("anonymous", True), ("both", True), ("sso", False)])
def test_only_sso_sites_require_signing_in(site, secret, mode, anonymous_may):
    set_settings(site, identity=mode)
    sso.require_sign_in(site, sso.verify_token(site, sso_token(secret)), "comment")  # always enough
    if anonymous_may:
        sso.require_sign_in(site, None, "comment")
    else:
        with pytest.raises(Unauthorized) as caught:
            sso.require_sign_in(site, None, "comment")
        assert caught.value.code == "sign_in_required"


def test_a_process_keeps_the_secrets_a_while_and_still_takes_a_new_one_at_once(app, db, site, secret, monkeypatch):
    assert sso.verify_token(site, sso_token(secret)).user_id == "reader-1"  # read and kept
    # Another process replaces the secret: this one's copy does not know the new one yet...
    with app.app_context():
        app.extensions["comments.sso_secrets"], kept = {}, app.extensions["comments.sso_secrets"]
        newer = new_sso_secret(site)
        app.extensions["comments.sso_secrets"] = kept
    db.session.commit()
    # ... and still verifies with it at once (a token no kept secret verifies reads them again).
    assert sso.verify_token(site, sso_token(newer)).user_id == "reader-1"
    # The old one works in its 24 hours, counted from its retirement as read.
    assert sso.verify_token(site, sso_token(secret)).user_id == "reader-1"
    # Kept only so long: a retirement seen late is seen after SECRETS_TTL_SECONDS.
    row = db.session.execute(select(SsoSecret).where(SsoSecret.retired_at.is_not(None))).scalar_one()
    row.retired_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    assert sso.verify_token(site, sso_token(secret)).user_id == "reader-1"  # the copy, within its lifetime
    later = time.monotonic() + sso.SECRETS_TTL_SECONDS + 1
    monkeypatch.setattr(sso.time, "monotonic", lambda: later)
    assert "signature does not match" in _refused(site, sso_token(secret))
