"""A minimal hand-written ``websockets`` server (its asyncio implementation) for the same messages.

As ``raw_trio`` does for trio: ``json.loads``, compute, ``json.dumps``, ``send``, no validation
and no slow-consumer handling. A broadcast is ``websockets.broadcast`` (encode once, write to
every subscriber without waiting: websockets' own fast path, which buffers without bound for a
subscriber that does not read). Replies echo ``"id"`` when the request has one; messages of one
connection are handled one after another. asyncio's default event loop, websockets' defaults.

Run: ``python -m benchmarks.apps.raw_websockets --host 127.0.0.1 --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

subscribers: set[ServerConnection] = set()


def reply_to(ws: ServerConnection, message: dict[str, object]) -> dict[str, object]:
    kind = message.get("type")
    channel = message.get("channel")
    data: dict[str, object] = message.get("data") or {}  # type: ignore[assignment]
    if kind == "action" and channel == "add":
        result = data["a"] + data["b"]  # type: ignore[operator]
        return {"type": "action", "channel": "add", "status": "completed", "data": result}
    if kind == "action" and channel == "publish":
        tick = {"seq": data["seq"], "ts": data["ts"], "pad": data.get("pad", "")}
        broadcast(subscribers, json.dumps({"type": "data", "channel": "tick", "data": tick}))
        return {"type": "action", "channel": "publish", "status": "completed", "data": data["seq"]}
    if kind == "subscribe" and channel == "tick":
        subscribers.add(ws)
        return {"type": "subscribed", "channel": "tick"}
    if kind == "unsubscribe" and channel == "tick":
        subscribers.discard(ws)
        return {"type": "unsubscribed", "channel": "tick"}
    return {"type": "error", "message": f"Unknown message: {kind} {channel}."}


async def handle(ws: ServerConnection) -> None:
    try:
        async for text in ws:
            message = json.loads(text)
            reply = reply_to(ws, message)
            if "id" in message:
                reply["id"] = message["id"]
            await ws.send(json.dumps(reply))
    except ConnectionClosed:
        pass
    finally:
        subscribers.discard(ws)


async def serve_until_signal(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(handle, host, port):
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve_until_signal(args.host, args.port))


if __name__ == "__main__":
    main()
