"""A minimal hand-written trio-websocket server for the benchmark's messages: the ceiling for trio.

It does only what the workloads need and nothing the framework does (no validation, no outbox,
no slow-consumer handling): ``json.loads``, compute, ``json.dumps``, ``send_message``. A broadcast
is a plain loop of ``send_message`` over the subscribers, so one stalled subscriber stalls it.
Replies echo ``"id"`` when the request has one (so ``rpc_pipelined`` can match them); messages of
one connection are handled one after another. trio-websocket's defaults are kept as they are.

Run: ``python -m benchmarks.apps.raw_trio --host 127.0.0.1 --port P``.
"""

from __future__ import annotations

import argparse
import json
import signal

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

subscribers: set[WebSocketConnection] = set()


async def broadcast(data: dict[str, object]) -> None:
    text = json.dumps({"type": "data", "channel": "tick", "data": data})
    for ws in list(subscribers):
        try:
            await ws.send_message(text)
        except ConnectionClosed:
            subscribers.discard(ws)


async def handle(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            message = json.loads(await ws.get_message())
            kind = message.get("type")
            channel = message.get("channel")
            data = message.get("data") or {}
            if kind == "action" and channel == "add":
                reply = {
                    "type": "action",
                    "channel": "add",
                    "status": "completed",
                    "data": data["a"] + data["b"],
                }
            elif kind == "action" and channel == "publish":
                await broadcast({"seq": data["seq"], "ts": data["ts"], "pad": data.get("pad", "")})
                reply = {
                    "type": "action",
                    "channel": "publish",
                    "status": "completed",
                    "data": data["seq"],
                }
            elif kind == "subscribe" and channel == "tick":
                subscribers.add(ws)
                reply = {"type": "subscribed", "channel": "tick"}
            elif kind == "unsubscribe" and channel == "tick":
                subscribers.discard(ws)
                reply = {"type": "unsubscribed", "channel": "tick"}
            else:
                reply = {"type": "error", "message": f"Unknown message: {kind} {channel}."}
            if "id" in message:
                reply["id"] = message["id"]
            await ws.send_message(json.dumps(reply))
    except ConnectionClosed:
        pass
    finally:
        subscribers.discard(ws)


async def serve_until_signal(host: str, port: int) -> None:
    # Explicit handlers: a process started in the background may inherit SIGINT as ignored.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_websocket, handle, host, port, None)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    trio.run(serve_until_signal, args.host, args.port)


if __name__ == "__main__":
    main()
