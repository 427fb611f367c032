"""The benchmark's messages on python-socketio: an ``AsyncServer`` as an ASGI app for uvicorn.

Socket.IO v5, WebSocket transport only. ``add`` and ``publish`` are events answered by their
ack (the handler's return value); ``subscribe``/``unsubscribe`` enter and leave the ``tick``
room, and ``publish`` emits one ``tick`` event to that room. python-socketio's defaults
otherwise (its default JSON module, no logging).

Run: ``python -m uvicorn benchmarks.apps.socketio_app:app --loop uvloop``.
"""

from __future__ import annotations

from typing import Any

import socketio

sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"])
app = socketio.ASGIApp(sio)


@sio.event
async def add(sid: str, data: dict[str, Any]) -> int:
    return data["a"] + data["b"]  # type: ignore[no-any-return]


@sio.event
async def subscribe(sid: str, *_: object) -> str:
    await sio.enter_room(sid, "tick")
    return "subscribed"


@sio.event
async def unsubscribe(sid: str, *_: object) -> str:
    await sio.leave_room(sid, "tick")
    return "unsubscribed"


@sio.event
async def publish(sid: str, data: dict[str, Any]) -> int:
    tick = {"seq": data["seq"], "ts": data["ts"], "pad": data.get("pad", "")}
    await sio.emit("tick", tick, room="tick")
    return data["seq"]  # type: ignore[no-any-return]
