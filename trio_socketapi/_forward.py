"""Publishing from a process that serves nothing: forward the call over the WebSocket.

The call becomes PROTOCOL.md's ``{"type": "publish", ...}`` message to the app's own server,
which validates the arguments against the channel's signature, runs the channel function and
delivers the result to its subscribers, exactly as if the call had been made there.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
import trio
from trio_websocket import HandshakeError, open_websocket

from ._protocol import to_json

FORWARD_TIMEOUT = 10.0


class PublishError(Exception):
    """A broadcast could not be forwarded to the server, or the server refused it."""


async def forward_publish(
    host: str, port: int, channel: str, arguments: dict[str, Any], token: str | None
) -> None:
    """Forward one broadcast to the server at ``host``:``port`` and wait for ``published``.

    Raises ``PublishError`` if no server answers or the server refuses (not an allowed host,
    wrong token, invalid arguments).
    """
    message: dict[str, Any] = {"type": "publish", "channel": channel, "data": arguments}
    if token is not None:
        message["token"] = token
    url = f"ws://{host}:{port}/"
    try:
        with trio.fail_after(FORWARD_TIMEOUT):
            async with open_websocket(host, port, "/", use_ssl=False) as ws:
                await ws.send_message(to_json(message).decode())
                reply = pydantic_core.from_json(await ws.get_message())
    except (OSError, HandshakeError, trio.TooSlowError) as exc:
        raise PublishError(f"cannot forward {channel!r} to {url}: {_reason(exc)}") from exc
    if not isinstance(reply, dict) or reply.get("type") != "published":
        detail = reply.get("message") if isinstance(reply, dict) else reply
        raise PublishError(f"{url} refused the broadcast to {channel!r}: {detail}")


def _reason(exc: BaseException) -> str:
    """The most telling message in an exception's chain (trio-websocket wraps the OS error)."""
    seen: BaseException | None = exc
    while seen is not None:
        if str(seen):
            return f"{type(seen).__name__}: {seen}"
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
