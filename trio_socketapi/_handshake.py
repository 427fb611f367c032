"""Deciding whether to accept an opening handshake: paths, origins, limits, user hooks.

Pure functions over the handshake's ``Connection``; the server turns a ``HandshakeRefused``
into the HTTP response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit


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
    allowed_paths: tuple[str, ...] | None,
    allowed_origins: tuple[str, ...] | Literal["*"],
) -> None:
    """Raise ``HandshakeRefused`` (404 or 403) if the path or the origin is not allowed."""
    if allowed_paths is not None and path not in allowed_paths:
        raise HandshakeRefused(404, "Not Found")
    if not origin_allowed(headers.get("origin"), headers.get("host"), tls, allowed_origins):
        raise HandshakeRefused(403, "Cross-origin WebSocket connection refused")
