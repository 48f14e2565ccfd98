"""Outgoing HTTP to addresses hosts give us (webhooks), without becoming a proxy into our network.

The host name is resolved here, every address it resolves to must be global (not loopback,
private, link-local, shared, multicast or reserved), and the connection goes to the vetted
address itself, with the name kept for the Host header and TLS (SNI and certificate check). A
DNS answer that changes between the check and the connection (rebinding) therefore cannot
reach an internal address. ``allow_private`` lifts the address check, for local testing only.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


class AddressNotAllowed(Exception):
    """The URL is not one we may connect to (scheme, credentials, or a non-global address)."""


class Unresolvable(Exception):
    pass


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path-with-query) of an http(s) URL, or AddressNotAllowed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise AddressNotAllowed(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise AddressNotAllowed("only http and https URLs are allowed")
    if not parts.hostname:
        raise AddressNotAllowed("the URL has no host")
    if parts.username or parts.password:
        raise AddressNotAllowed("credentials in the URL are not allowed; sign-checking replaces them")
    if parts.fragment:
        raise AddressNotAllowed("a webhook URL has no #fragment")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64 (well-known prefix) and the
# deprecated IPv4-compatible form. The embedded address is the one that must be public.
_EMBEDS_IPV4 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("::/96"),
    # local-use NAT64 (RFC 8215) and the IPv4-translated form (RFC 2765)
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
)
# Not public whatever Python's (version-dependent) is_global table says: deprecated site-local.
_NEVER_PUBLIC = (ipaddress.ip_network("fec0::/10"),)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in network for network in _EMBEDS_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
        elif any(ip in network for network in _NEVER_PUBLIC):
            return False
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to; AddressNotAllowed when any of them is not global."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        # The resolver's own words stay in the server log: they would map the internal network.
        log.info("webhook host %s does not resolve: %s", host, exc)
        raise Unresolvable(f"{host} does not resolve") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Unresolvable(f"{host} does not resolve")
    if not allow_private:
        refused = [a for a in addresses if not _is_public(a)]
        if refused:
            log.info("webhook host %s resolves to non-public %s", host, refused[0])
            raise AddressNotAllowed(f"{host} resolves to a non-public address")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the name, not the address we connected to.
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str  # the first bytes, for the delivery log


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Answer:
    """POST ``body`` to ``url`` through a vetted address; redirects are not followed."""
    scheme, host, port, path = check_url(url)
    addresses = resolve(host, port, allow_private)
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    last_error: OSError | None = None
    for address in addresses[:3]:
        connection = connection_class(host, port, address, timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            snippet = response.read(1024).decode("utf-8", "replace")
            return Answer(response.status, snippet)
        except ConnectionRefusedError as exc:
            last_error = exc  # nothing was sent: try the name's next address, if any
        finally:
            connection.close()
    assert last_error is not None
    raise last_error
