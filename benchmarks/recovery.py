"""The cost of one recovery of 100 publications, in memory and on Redis.

    python -m benchmarks.recovery [--recoveries 300] [--missed 100]

A server of a ``History(size=1000, ttl=300)`` channel runs in this process on loopback TCP; 100
publications are made; then one client resubscribes ``--recoveries`` times with
``since={"offset": 0, ...}`` on one connection, each time waiting for the ``subscribed`` reply
and the 100 replayed frames. Reported: the time per recovery (median, p99) from sending the
subscribe to the last replayed frame, and the process CPU per recovery (server and client
together: one process). The Redis row starts a throwaway ``redis-server`` (no persistence) if
one is on the PATH and uses a ``RedisBroker`` on it, so each recovery is one Lua script plus
the replay.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any

import trio
from trio_websocket import open_websocket

from trio_socketapi import History, SocketAPI


def build(broker: Any = None) -> SocketAPI:
    app = SocketAPI(host="127.0.0.1", broker=broker)

    @app.channel("tick", history=History(size=1000, ttl=300))
    async def tick(seq: int = 0, pad: str = "") -> dict[str, Any]:
        return {"seq": seq, "pad": pad}

    return app


async def measure(app: SocketAPI, recoveries: int, missed: int) -> dict[str, float]:
    tick = app._registry.channels["tick"]
    async with trio.open_nursery() as nursery:
        port = await nursery.start(app.serve, "127.0.0.1", 0)
        async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
            await ws.send_message(json.dumps({"type": "subscribe", "id": 0, "channel": "tick"}))
            epoch = json.loads(await ws.get_message())["epoch"]
            await ws.send_message(json.dumps({"type": "unsubscribe", "id": -1, "channel": "tick"}))
            await ws.get_message()
            for seq in range(missed):
                await tick(seq=seq, pad="x" * 64)
            times = []
            cpu = time.process_time()
            for i in range(1, recoveries + 1):
                start = time.perf_counter()
                since = {"offset": 0, "epoch": epoch}
                message = {"type": "subscribe", "id": i, "channel": "tick", "since": since}
                await ws.send_message(json.dumps(message))
                reply = json.loads(await ws.get_message())
                assert reply.get("recovered") is True, reply
                for _ in range(missed):
                    await ws.get_message()
                times.append(time.perf_counter() - start)
            cpu = time.process_time() - cpu
        nursery.cancel_scope.cancel()
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
        "cpu_ms": cpu / recoveries * 1000,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recoveries", type=int, default=300)
    parser.add_argument("--missed", type=int, default=100)
    args = parser.parse_args()
    rows = {"memory": trio.run(measure, build(), args.recoveries, args.missed)}
    binary = shutil.which("redis-server")
    if binary is not None:
        from trio_socketapi.redis import RedisBroker

        port = free_port()
        with tempfile.TemporaryDirectory() as directory:
            redis = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", directory],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                time.sleep(0.3)
                app = build(RedisBroker(f"redis://127.0.0.1:{port}/0", channel="bench"))
                rows["redis"] = trio.run(measure, app, args.recoveries, args.missed)
            finally:
                redis.kill()
                redis.wait()
    print(f"recovery of {args.missed} publications, {args.recoveries} times, one connection")
    print(f"{'broker':<8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8}")
    for name, row in rows.items():
        print(f"{name:<8} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['cpu_ms']:>8.2f}")


if __name__ == "__main__":
    main()
