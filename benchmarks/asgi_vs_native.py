"""The ASGI path against the native server, one machine, loopback, a quick look (seconds).

Sequential action round trips from one client, then a fan-out of 200 broadcasts to 200
subscribers, first against ``app.serve`` and then against the same app under
``hypercorn.trio.serve``. Run: ``python -m benchmarks.asgi_vs_native`` (docs/asgi.md quotes it).
"""

from __future__ import annotations

import functools
import json
import time

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from trio_websocket import WebSocketConnection, open_websocket

from trio_socketapi import SocketAPI

ROUND_TRIPS = 3000
SUBSCRIBERS = 200
BROADCASTS = 200

app = SocketAPI()


@app.action("add")
async def add(a: int, b: int = 0) -> int:
    return a + b


@app.channel("news")
async def news(n: int = 0) -> int:
    return n


async def _subscriber(
    port: int, subscribers: list[WebSocketConnection], *, task_status: trio.TaskStatus[None]
) -> None:
    async with open_websocket(
        "127.0.0.1", port, "/", use_ssl=False, message_queue_size=BROADCASTS
    ) as ws:
        await ws.send_message('{"type":"subscribe","channel":"news"}')
        await ws.get_message()
        subscribers.append(ws)
        task_status.started()
        await trio.sleep_forever()


async def measure(port: int) -> tuple[float, float]:
    """(action round trips per second, broadcast deliveries per second) against ``port``."""
    async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
        message = json.dumps({"type": "action", "channel": "add", "data": {"a": 1}})
        start = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            await ws.send_message(message)
            await ws.get_message()
        rpc = ROUND_TRIPS / (time.perf_counter() - start)
    async with trio.open_nursery() as nursery:
        subscribers: list[WebSocketConnection] = []
        for _ in range(SUBSCRIBERS):
            await nursery.start(_subscriber, port, subscribers)
        start = time.perf_counter()
        for n in range(BROADCASTS):
            await news(n=n)
        for ws in subscribers:
            for _ in range(BROADCASTS):
                await ws.get_message()
        fanout = SUBSCRIBERS * BROADCASTS / (time.perf_counter() - start)
        nursery.cancel_scope.cancel()
    return rpc, fanout


async def main() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(app.serve, "127.0.0.1", 0)
        rpc, fanout = await measure(port)
        print(f"native      {rpc:8.0f} round trips/s  {fanout:8.0f} deliveries/s")
        nursery.cancel_scope.cancel()
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(hypercorn_serve, app, config, shutdown_trigger=stop.wait)
        )
        rpc, fanout = await measure(int(binds[0].rsplit(":", 1)[1]))
        print(f"hypercorn   {rpc:8.0f} round trips/s  {fanout:8.0f} deliveries/s")
        stop.set()


if __name__ == "__main__":
    trio.run(main)
