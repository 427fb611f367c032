"""The benchmark app on trio_socketapi; with ``BENCH_REDIS_URL`` set, on a Redis broker there
(the ``--workers`` rows)."""

from __future__ import annotations

import os
from typing import Any

from trio_socketapi import SocketAPI


def broker() -> Any:
    url = os.environ.get("BENCH_REDIS_URL")
    if not url:
        return None
    from trio_socketapi.redis import RedisBroker

    return RedisBroker(url)


app = SocketAPI(host="127.0.0.1", broker=broker())


@app.action("add")
async def add(a: int, b: int) -> int:
    return a + b


@app.channel("tick")
async def tick(seq: int = 0, ts: float = 0.0, pad: str = "") -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "pad": pad}


@app.action("publish")
async def publish(seq: int, ts: float, pad: str = "") -> int:
    await tick(seq=seq, ts=ts, pad=pad)
    return seq
