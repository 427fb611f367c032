"""The seam between an app and its servers: what a ``Server`` and a channel use of a ``SocketAPI``.

``SocketAPI`` is what users call (decorators, ``serve``, ``run``). Everything it shares with the
code that serves it lives in one ``AppCore``: the handler registry, the handshake hooks, the
publish policy, the broker, counters and metrics, the static mounts, and the serving state
(how many servers of the app run in this process, and in which trio loop). A ``Server`` is
built on a core, never on the app; a ``ChannelHandler`` publishes through the cores it is bound
to (``ChannelHost`` in _handlers.py is what it needs of one). Only ``serving()``, entered by a
server for as long as it receives broadcasts, changes the serving state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import attrs
import trio

from ._broker import Broadcast, Broker
from ._connection import Connection
from ._counters import Counters
from ._dispatch import PublishPolicy
from ._handlers import ChannelHandler
from ._http import StaticMount
from ._hub import key_of
from ._metrics import Metrics
from ._registry import Registry

HandshakeHook = Callable[[Connection], Awaitable[None]]
"""``async def hook(connection)``, run before a connection is accepted."""


class DocumentBuilder(Protocol):
    """``SocketAPI.asyncapi``: the AsyncAPI document, its server at ``host``:``port`` (``None``:
    the app's own)."""

    def __call__(self, *, host: str | None = None, port: int | None = None) -> dict[str, Any]: ...


class Forwarder(Protocol):
    """Where a process that serves nothing sends an app's broadcasts."""

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) of the app's server (two apps forwarding to one go there once)."""

    async def forward(self, channel: str, arguments: dict[str, Any]) -> None:
        """Send one broadcast call to the app's server; raises ``PublishError`` if refused."""


@attrs.define(eq=False)
class AppCore:
    """The state one app shares with its servers and channels (see the module docstring)."""

    registry: Registry
    broker: Broker
    publish_policy: PublishPolicy
    forwarder: Forwarder
    counters: Counters = attrs.field(factory=Counters)
    metrics: Metrics = attrs.field(factory=Metrics)
    handshake_hooks: list[HandshakeHook] = attrs.field(factory=list)
    static_mounts: list[StaticMount] = attrs.field(factory=list)
    document: DocumentBuilder | None = None
    """The app's AsyncAPI document (``SocketAPI.asyncapi``), served at ``/asyncapi.json``."""
    servers_running: int = 0
    """How many servers (or test servers) of this app run in this process."""
    trio_token: trio.lowlevel.TrioToken | None = None
    """The trio loop a server of this app runs in (for ``publish_threadsafe``)."""

    @property
    def publishes_here(self) -> bool:
        """Whether a broadcast is published from this process (to the broker) rather than
        forwarded: a server runs here, or the broker is shared."""
        return self.servers_running > 0 or self.broker.is_shared

    @property
    def forward_address(self) -> tuple[str, int]:
        """Where this app's broadcasts are forwarded when no server of it runs here."""
        return self.forwarder.address

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count one server of the app as running in the current trio loop for the block."""
        self.servers_running += 1
        self.trio_token = trio.lowlevel.current_trio_token()
        try:
            yield
        finally:
            self.servers_running -= 1
            if not self.servers_running:
                self.trio_token = None

    async def publish(
        self, handler: ChannelHandler[Any, Any], key: dict[str, Any], data_json: bytes | None
    ) -> None:
        """Publish a channel result, already serialised once, to the broker (recorded first
        if the channel keeps history)."""
        broadcast = Broadcast(handler.name, key, data_json)
        history = handler.history_config
        if history is None:
            await self.broker.publish(broadcast)
        elif len(key) == len(handler.signature.key_params):
            await self.broker.publish_recorded(broadcast, [(key_of(key), key)], history)
        else:  # a broadcast naming only part of the key: every stream it reaches records it
            await self.broker.publish_recorded(broadcast, None, history)

    async def forward(self, handler: ChannelHandler[Any, Any], arguments: dict[str, Any]) -> None:
        """Send a broadcast call to the app's server (no server of it runs in this process)."""
        await self.forwarder.forward(handler.name, arguments)
