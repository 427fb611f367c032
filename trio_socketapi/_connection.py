"""What a handler may know about the client it serves: the ``Connection``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
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
    id: str = attrs.field(factory=lambda: secrets.token_hex(8))
    """A random id naming this connection in presence entries and ``join``/``leave`` frames."""
    info: Any = None
    """What ``presence`` shows of this connection (JSON-serialisable); set it in a handshake
    hook or a dependency before the client subscribes (e.g. the signed-in user's name)."""

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
        return cls(
            path=split.path or "/",
            query_string=split.query,
            headers=HandshakeHeaders(raw_headers, host),
            remote=remote,
        )


class HandshakeHeaders(Mapping[str, str]):
    """The handshake's headers as a read-only mapping over the raw header list.

    Nothing is copied: the raw list is the one the WebSocket layer keeps anyway, and a lookup
    scans it (a handshake has a dozen headers). Names are matched case-insensitively and given
    lower-cased; a repeated header's values are joined with ``", "``.
    """

    def __init__(self, raw_headers: list[tuple[bytes, bytes]], host: str | None) -> None:
        self._raw = raw_headers
        self._host = host

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        if wanted == "host" and self._host is not None:
            return self._host
        key = wanted.encode("latin-1", "replace")
        values = [v.decode("latin-1") for n, v in self._raw if n.lower() == key]
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        seen = {"host"} if self._host is not None else set()
        yield from seen
        for raw_name, _ in self._raw:
            name = raw_name.decode("latin-1").lower()
            if name not in seen:
                seen.add(name)
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"HandshakeHeaders({dict(self)!r})"
