"""safehttp: which webhook URLs we may call and which addresses a name may lead to (no network:
the resolver is replaced by a table)."""

from __future__ import annotations

import socket

import pytest

from comments.services import safehttp
from comments.services.safehttp import AddressNotAllowed, Unresolvable, check_url


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("https://hooks.example.com/in", ("https", "hooks.example.com", 443, "/in")),
        ("http://hooks.example.com", ("http", "hooks.example.com", 80, "/")),
        (
            "  https://hooks.example.com:8443/in?site=news&x=1 ",
            ("https", "hooks.example.com", 8443, "/in?site=news&x=1"),
        ),
        ("https://[2606:4700::1111]/in", ("https", "2606:4700::1111", 443, "/in")),
        ("HTTPS://Hooks.Example.COM/In", ("https", "hooks.example.com", 443, "/In")),
    ],
)
def test_a_webhook_url_is_split_into_what_the_connection_needs(url, parts):
    assert check_url(url) == parts


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/in", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("https:///in", "no host"),
        ("https://user:secret@hooks.example.com/in", "credentials"),
        ("https://hooks.example.com/in#part", "fragment"),
        ("https://hooks.example.com:99999/in", "not a valid URL"),
        ("https://[::1/in", "not a valid URL"),
    ],
)
def test_urls_we_may_not_call_are_refused_saying_why(url, why):
    with pytest.raises(AddressNotAllowed, match=why):
        check_url(url)


@pytest.fixture()
def dns(monkeypatch):
    """A resolver answering from a table (name -> addresses); other names do not resolve."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host, port, type=0, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, type, 6, "", (a, port)) for a in table[host]]

    monkeypatch.setattr(safehttp.socket, "getaddrinfo", getaddrinfo)
    return table


def test_a_name_resolves_to_each_of_its_addresses_once_in_order(dns):
    dns["hooks.example.com"] = ["93.184.215.14", "2606:4700::1111", "93.184.215.14"]
    assert safehttp.resolve("hooks.example.com", 443, allow_private=False) == ["93.184.215.14", "2606:4700::1111"]


@pytest.mark.parametrize(
    "internal",
    ["127.0.0.1", "10.0.0.5", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "::ffff:192.168.0.1", "224.0.0.1"],
)
def test_one_internal_address_among_public_ones_refuses_the_name(dns, internal):
    dns["rebind.example.com"] = ["93.184.215.14", internal]
    with pytest.raises(AddressNotAllowed, match="non-public") as raised:
        safehttp.resolve("rebind.example.com", 443, allow_private=False)
    assert internal not in str(raised.value)  # the answer must not map the internal network
    assert safehttp.resolve("rebind.example.com", 443, allow_private=True) == ["93.184.215.14", internal]


def test_a_name_that_does_not_resolve_says_only_that(dns):
    with pytest.raises(Unresolvable) as raised:
        safehttp.resolve("nowhere.example.com", 443, allow_private=False)
    assert str(raised.value) == "nowhere.example.com does not resolve"
    dns["empty.example.com"] = []
    with pytest.raises(Unresolvable):
        safehttp.resolve("empty.example.com", 443, allow_private=False)
