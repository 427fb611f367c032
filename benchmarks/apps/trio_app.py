"""The benchmark app on trio_socketapi."""

from __future__ import annotations

from typing import Any

from trio_socketapi import SocketAPI

app = SocketAPI(host="127.0.0.1")


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
