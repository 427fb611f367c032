"""The benchmark app on trio_socketapi. The cost rows turn one thing on through the environment:
``BENCH_REDIS_URL`` (a Redis broker there, for ``--workers``), ``BENCH_METRICS=1``
(``Settings(serve_metrics=True)``), ``BENCH_HISTORY=1`` (``tick`` keeps a ``History``)."""

from __future__ import annotations

import os
from typing import Any

from trio_socketapi import History, Settings, SocketAPI


def broker() -> Any:
    url = os.environ.get("BENCH_REDIS_URL")
    if not url:
        return None
    from trio_socketapi.redis import RedisBroker

    return RedisBroker(url)


settings = Settings(serve_metrics=os.environ.get("BENCH_METRICS") == "1")
history = History(size=100, ttl=300) if os.environ.get("BENCH_HISTORY") == "1" else None
app = SocketAPI(host="127.0.0.1", broker=broker(), settings=settings)


@app.action("add")
async def add(a: int, b: int) -> int:
    return a + b


@app.channel("tick", history=history)
async def tick(seq: int = 0, ts: float = 0.0, pad: str = "") -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "pad": pad}


@app.action("publish")
async def publish(seq: int, ts: float, pad: str = "") -> int:
    await tick(seq=seq, ts=ts, pad=pad)
    return seq
