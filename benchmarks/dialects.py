"""How the load generator writes the benchmark's messages for each protocol, and reads replies.

``socketapi``: socketapi's JSON frames (trio_socketapi, socketapi, the raw servers).
``socketio``: Socket.IO v5 over Engine.IO 4 on the WebSocket transport (python-socketio):
events with an ack id (``42<id>["add",{...}]``, answered ``43<id>[result]``), broadcasts as
``42["tick",{...}]``. Every request carries an ack id; the connection is ready once the
server has answered the namespace connect (``40``), and an Engine.IO ping (``2``) is answered
(``3``) by the client, never counted as a reply.
"""

from __future__ import annotations

import json
from typing import Any


class SocketAPI:
    name = "socketapi"
    connects = False
    """Whether a connection is ready only once ``control`` says so (else at once)."""
    MESSAGE = None
    """First byte every reply or data frame starts with (``None``: no control frames)."""

    def add(self, n: int, a: int, b: int, with_id: bool) -> bytes:
        if with_id:
            return b'{"type":"action","channel":"add","id":%d,"data":{"a":%d,"b":%d}}' % (n, a, b)
        return b'{"type":"action","channel":"add","data":{"a":%d,"b":%d}}' % (a, b)

    def reply(self, raw: bytes) -> tuple[Any, bool, Any]:
        """``(id, is a completed action, data)`` of an action's reply."""
        message = json.loads(raw)
        return message.get("id"), message.get("type") == "action", message.get("data")

    def subscribe(self, n: int) -> bytes:
        return b'{"type":"subscribe","channel":"tick"}'

    def unsubscribe(self, n: int) -> bytes:
        return b'{"type":"unsubscribe","channel":"tick"}'

    def subscribed(self, raw: bytes) -> bool:
        return bool(json.loads(raw).get("type") == "subscribed")

    def publish(self, n: int, data: dict[str, Any]) -> bytes:
        return json.dumps({"type": "action", "channel": "publish", "data": data}).encode()

    def data_seq(self, raw: bytes) -> Any:
        """The ``seq`` of a ``tick`` data frame (raises on anything else)."""
        message = json.loads(raw)
        if message["type"] != "data":
            raise ValueError("not a data frame")
        return message["data"]["seq"]

    def control(self, raw: bytes) -> tuple[bytes | None, bool]:
        """For a frame that is not a reply or data: ``(answer to send, now ready)``."""
        return None, False


class SocketIO(SocketAPI):
    name = "socketio"
    connects = True
    MESSAGE = ord("4")

    def add(self, n: int, a: int, b: int, with_id: bool) -> bytes:
        return b'42%d["add",{"a":%d,"b":%d}]' % (n, a, b)

    def reply(self, raw: bytes) -> tuple[Any, bool, Any]:
        if not raw.startswith(b"43"):
            return None, False, raw[:80].decode(errors="replace")
        bracket = raw.index(b"[")
        args = json.loads(raw[bracket:])
        return int(raw[2:bracket]), True, args[0] if args else None

    def subscribe(self, n: int) -> bytes:
        return b'42%d["subscribe"]' % n

    def unsubscribe(self, n: int) -> bytes:
        return b'42%d["unsubscribe"]' % n

    def subscribed(self, raw: bytes) -> bool:
        return self.reply(raw)[2] == "subscribed"

    def publish(self, n: int, data: dict[str, Any]) -> bytes:
        return b'42%d["publish",%s]' % (n, json.dumps(data).encode())

    def data_seq(self, raw: bytes) -> Any:
        if not raw.startswith(b'42["tick",'):
            raise ValueError("not a tick event")
        return json.loads(raw[2:])[1]["seq"]

    def control(self, raw: bytes) -> tuple[bytes | None, bool]:
        if raw == b"2":  # Engine.IO ping
            return b"3", False
        if raw.startswith(b"0"):  # the Engine.IO open packet: connect to the namespace
            return b"40", False
        if raw.startswith(b"40"):  # the namespace is connected
            return None, True
        return None, False


DIALECTS = {d.name: d for d in (SocketAPI(), SocketIO())}
