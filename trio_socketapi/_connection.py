"""What a handler may know about the client it serves: the ``Connection``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs


@attrs.define(eq=False)
class Connection:
    """One client's WebSocket connection, as its handshake presented it.

    Annotate a handler or dependency parameter with ``Connection`` to receive it instead of client
    data. ``state`` is yours: a dict that lives as long as the connection (put the authenticated
    user there in a dependency, read it in later messages).
    """

    path: str
    """The request target of the handshake without the query string, e.g. ``"/"``."""
    query_string: str
    """The raw query string of the handshake, without the ``?``."""
    headers: Mapping[str, str]
    """Handshake headers, names lower-cased; repeated headers joined with ``", "``."""
    remote: tuple[str, int] | None
    """The peer's (address, port), or ``None`` when the transport has no address (in-memory)."""
    state: dict[str, Any] = attrs.field(factory=dict)
    """Per-connection storage for the application."""

    @property
    def query_params(self) -> dict[str, str]:
        """The query string parsed into a dict (the last value wins for a repeated name)."""
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @classmethod
    def from_handshake(
        cls,
        target: str,
        raw_headers: list[tuple[bytes, bytes]],
        remote: tuple[str, int] | None,
        host: str | None = None,
    ) -> Connection:
        """Build the connection from a handshake's request target, ``Host`` and other headers."""
        split = urlsplit(target)
        headers: dict[str, str] = {"host": host} if host is not None else {}
        for raw_name, raw_value in raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return cls(
            path=split.path or "/",
            query_string=split.query,
            headers=headers,
            remote=remote,
        )
