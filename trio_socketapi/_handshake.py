"""Deciding whether to accept an opening handshake: hosts, paths, origins, limits, user hooks.

Pure functions over the handshake's ``Connection``; the server turns a ``HandshakeRefused``
into the HTTP response. The checks run in this order: ``Host`` (400), path (404), ``Origin``
(403). The host comes first because the origin check trusts it: a page that rebinds its own
name to 127.0.0.1 (DNS rebinding) sends a ``Host`` and an ``Origin`` that agree with each other,
and only the host names the attack.

A foreign ``Host`` gets 400, as Django's ``ALLOWED_HOSTS`` and Starlette's
``TrustedHostMiddleware`` answer it: the request names a site this server does not serve, so
it is malformed for this server whoever sends it, while 403 means "this client may not", the
answer to a cross-site ``Origin``. Keeping the two apart also keeps the log lines apart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from ._protocol import HOST_REFUSED, ORIGIN_REFUSED, PATH_REFUSED


class HandshakeRefused(Exception):
    """Raise from an ``on_handshake`` hook to refuse a connection with an HTTP status.

    ``status_code`` is typically 401 (not authenticated) or 403 (not allowed); ``reason`` is
    the response body.
    """

    def __init__(self, status_code: int = 403, reason: str = "Forbidden") -> None:
        super().__init__(status_code, reason)
        self.status_code = status_code
        self.reason = reason


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _normalise(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    scheme = _HTTP_SCHEME.get(scheme.lower(), "")
    try:
        split = urlsplit(f"//{netloc}")
        port = split.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not scheme or not split.hostname or port is None:
        return None
    return (scheme, split.hostname.lower(), port)


LOOPBACK_HOSTS: tuple[str, ...] = ("localhost", "*.localhost", "127.0.0.0/8", "::1")
"""The ``Host`` names a server on loopback accepts by default: its loopback names and addresses."""
INVALID_HOST = HOST_REFUSED.reason


def host_name(host: str) -> str:
    """The name in a ``Host`` header: no port, no IPv6 brackets, no trailing dot, lower case.

    trio-websocket's client sends an IPv6 address without brackets (``::1:8000``); a last
    group of digits is taken for the port when what is left is an address. (Browsers always
    send brackets, so this leniency gives a DNS-rebinding page nothing.)
    """
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    elif ":" in host:
        address, _, port = host.rpartition(":")
        if port.isdigit() and _is_ip(address):
            host = address  # an IPv6 address and port without brackets (sic)
    return host.removesuffix(".")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_allowed(host: str | None, allowed_hosts: tuple[str, ...] | Literal["*"]) -> bool:
    """Whether a handshake's ``Host`` names this server, by ``allowed_hosts``' patterns.

    A pattern is ``"*"`` (any host), ``"*.example.com"`` (any name below example.com, not
    example.com itself), an IP network (``"127.0.0.0/8"``) or one name or address; names are
    matched case-insensitively and the port is ignored. No ``Host`` at all is never allowed,
    unless by ``"*"``.
    """
    if allowed_hosts == "*" or "*" in allowed_hosts:
        return True
    if host is None:
        return False
    name = host_name(host)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    for pattern in allowed_hosts:
        if address is not None:
            network = ip_network_of(pattern)
            if network is not None and address in network:
                return True
        elif pattern.startswith("*."):
            if name.endswith(pattern[1:].lower()):
                return True
        elif name == pattern.lower().removesuffix("."):
            return True
    return False


def ip_network_of(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The IP network (or single address) a host pattern names; ``None`` for a name."""
    try:
        return ipaddress.ip_network(pattern.strip("[]"), strict=False)
    except ValueError:
        return None


def is_loopback(address: str) -> bool:
    """Whether a listening address is a loopback one (``127.0.0.1``, ``::1``, ...)."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


def origin_allowed(
    origin: str | None,
    host: str | None,
    tls: bool,
    allowed_origins: tuple[str, ...] | Literal["*"],
) -> bool:
    """Whether a handshake's ``Origin`` may connect.

    Allowed: no ``Origin`` header (not a browser), ``allowed_origins == "*"``, the server's own
    origin (the request's ``Host`` with ``http``/``https`` as served), or a listed origin.
    """
    if origin is None or allowed_origins == "*":
        return True
    split = urlsplit(origin.strip())
    theirs = _normalise(split.scheme, split.netloc)
    if theirs is None:
        return False
    if host is not None and theirs == _normalise("https" if tls else "http", host.strip()):
        return True
    for allowed in allowed_origins:
        allowed_split = urlsplit(allowed.strip())
        if theirs == _normalise(allowed_split.scheme, allowed_split.netloc):
            return True
    return False


def check_handshake(
    path: str,
    headers: Mapping[str, str],
    tls: bool,
    allowed_hosts: tuple[str, ...] | Literal["*"],
    allowed_paths: tuple[str, ...] | None,
    allowed_origins: tuple[str, ...] | Literal["*"],
) -> None:
    """Raise ``HandshakeRefused`` (400, 404 or 403) if the host, path or origin is not allowed."""
    if not host_allowed(headers.get("host"), allowed_hosts):
        raise HandshakeRefused(*HOST_REFUSED)
    if allowed_paths is not None and path not in allowed_paths:
        raise HandshakeRefused(*PATH_REFUSED)
    if not origin_allowed(headers.get("origin"), headers.get("host"), tls, allowed_origins):
        raise HandshakeRefused(*ORIGIN_REFUSED)
