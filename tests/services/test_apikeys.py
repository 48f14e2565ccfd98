"""apikeys: the scopes a key is issued with, and which raw keys are not even looked up (no database)."""

from __future__ import annotations

import pytest

from comments.security import API_KEY_PREFIX
from comments.services import apikeys
from comments.services.errors import Invalid


@pytest.mark.parametrize(
    ("scopes", "stored"),
    [
        (None, "host"),  # a key is a host key unless asked otherwise
        ([], "host"),
        (["host"], "host"),
        (["moderate"], "moderate"),
        (["moderate", "host"], "host moderate"),  # one spelling for each set: sorted
        (("host", "moderate", "host"), "host moderate"),  # each scope once
    ],
)
def test_scopes_are_stored_once_each_sorted(scopes, stored):
    assert apikeys.normalise_scopes(scopes) == stored


@pytest.mark.parametrize("scopes", [["admin"], ["host", "Host"], ["host", ""], ["host moderate"]])
def test_a_scope_that_does_not_exist_is_refused_as_the_field_scopes(scopes):
    with pytest.raises(Invalid) as raised:
        apikeys.normalise_scopes(scopes)
    assert raised.value.code == "invalid_scope"
    assert list(raised.value.fields) == ["scopes"]


@pytest.mark.parametrize("raw_key", ["", "not-a-key", API_KEY_PREFIX.upper() + "x" * 40, API_KEY_PREFIX + "x" * 200])
def test_what_cannot_be_a_key_is_no_key_before_any_query(raw_key, monkeypatch):
    # No database here: a query would fail the test, so None must come from the checks before it.
    monkeypatch.setattr(apikeys, "db", None)
    assert apikeys.find_key(raw_key) is None


def test_a_scope_is_in_use_while_an_active_key_has_it(db, site):
    assert not apikeys.scope_in_use(apikeys.ANALYZE_SCOPE)  # the site's first key: host only
    row, _ = apikeys.issue_key(site, "coral", ["moderate", "analyze"])
    assert apikeys.scope_in_use(apikeys.ANALYZE_SCOPE)
    apikeys.revoke_key(site, row.id)
    assert not apikeys.scope_in_use(apikeys.ANALYZE_SCOPE)
    assert apikeys.scope_in_use("host")
