"""The README's examples, run: an example a host copies must keep working as the service changes."""

from __future__ import annotations

import re
import types
from datetime import timedelta
from pathlib import Path

import pytest

from comments.services import sso
from comments.services.audit import Actor
from comments.services.errors import Unauthorized

README = Path(__file__).resolve().parent.parent / "README.md"
IDENTITY_SECTION = "## Readers' identity (single sign-on)"


def section_example(heading: str, language: str) -> str:
    """The first ``language`` code block under ``heading`` (up to the next top-level section)."""
    text = README.read_text()
    section = text[text.index(heading) :]
    following = section.find("\n## ", len(heading))
    section = section if following < 0 else section[:following]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found is not None, f"README's {heading!r} has no {language} example"
    return found.group(1)


def host_signer(monkeypatch: pytest.MonkeyPatch, secret: str):
    """The README's Python example, run as a host would run it (the secret in SSO_SECRET)."""
    monkeypatch.setenv("SSO_SECRET", secret)
    namespace: dict[str, object] = {}
    exec(section_example(IDENTITY_SECTION, "python"), namespace)  # the README's own text, nothing else
    return namespace["comments_token"]


def test_the_python_signing_example_makes_tokens_the_service_accepts(db, site, monkeypatch):
    secret = sso.issue_secret(site, Actor("operator", "test"))
    db.session.commit()
    comments_token = host_signer(monkeypatch, secret)
    subscriber = types.SimpleNamespace(id=42, display_name="Ann Example", email="ann@example.org", subscriber=True)

    reader = sso.verify_token(site, comments_token(subscriber))

    assert (reader.user_id, reader.username, reader.email) == ("42", "Ann Example", "ann@example.org")
    assert reader.badges == ("Subscriber",)
    assert reader.issued_at is not None
    assert timedelta(minutes=59) < reader.expires_at - reader.issued_at <= timedelta(hours=1)
    # Every token has its own jti, so that signing one out (the widget's Sign out) leaves the others.
    assert reader.jti is not None
    assert sso.verify_token(site, comments_token(subscriber)).jti != reader.jti
    other = types.SimpleNamespace(id=7, display_name="Bo", email=None, subscriber=False)
    assert sso.verify_token(site, comments_token(other)).badges == ()


def test_the_python_example_signs_with_the_secret_it_is_given(db, site, monkeypatch):
    """The example must not pass by accident: under a secret the site never issued it is refused."""
    sso.issue_secret(site, Actor("operator", "test"))
    db.session.commit()
    comments_token = host_signer(monkeypatch, "sso_not-this-sites-secret-0123456789abcdefghij")
    user = types.SimpleNamespace(id=1, display_name="Ann", email=None, subscriber=False)
    with pytest.raises(Unauthorized) as refused:
        sso.verify_token(site, comments_token(user))
    assert refused.value.code == "invalid_token"


@pytest.mark.parametrize("language", ["python", "js"])
def test_the_signing_examples_stay_short(language):
    """The issue asks for about ten lines each: a host should see at a glance what to sign."""
    lines = [line for line in section_example(IDENTITY_SECTION, language).splitlines() if line.strip()]
    assert len(lines) <= 11, f"the {language} example has grown to {len(lines)} lines"
