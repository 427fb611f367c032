"""What many test files share: the frames the server sends, a free loopback port, and waiting
for a server in a subprocess to listen on it.

The frame builders return the dict a client parses, with one signature each: the frame's own
fields first, anything more (``id``, ``params``, ``errors``) as keyword arguments added as they
are. A ``None`` result has no ``data`` key, as on the wire. Time bounds are not here: every trio
test runs under one bound that ``conftest.py`` applies (``@pytest.mark.bound`` changes it).
"""

from __future__ import annotations

import socket
from typing import Any

import trio


def completed(channel: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    """An action's reply (``data`` ``None``: the function returned ``None``, no ``data`` key)."""
    frame: dict[str, Any] = {"type": "action", "channel": channel, "status": "completed"}
    if data is not None:
        frame["data"] = data
    return {**frame, **extra}


def data_frame(channel: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    """A broadcast or default response (``data`` ``None``: no ``data`` key)."""
    frame: dict[str, Any] = {"type": "data", "channel": channel}
    if data is not None:
        frame["data"] = data
    return {**frame, **extra}


def subscribed(channel: str, **extra: Any) -> dict[str, Any]:
    """The reply to a subscribe."""
    return {"type": "subscribed", "channel": channel, **extra}


def unsubscribed(channel: str, **extra: Any) -> dict[str, Any]:
    """The reply to an unsubscribe."""
    return {"type": "unsubscribed", "channel": channel, **extra}


def error(message: str, **extra: Any) -> dict[str, Any]:
    """An error frame."""
    return {"type": "error", "message": message, **extra}


def free_port() -> int:
    """A loopback TCP port nothing listens on at the moment of the call.

    For what must be given a port before it binds (a subprocess, a Redis server, an address
    that must refuse); a server the test starts itself binds port 0 instead.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until_listening(port: int) -> None:
    """Return once something accepts TCP on loopback ``port`` (the caller bounds the wait)."""
    while True:
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.05)
        else:
            await stream.aclose()
            return
