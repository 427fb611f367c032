"""The app the JS client's tests run against (``tests/node``), in Node and in Chromium.

Served by ``python -m trio_socketapi tests.js_app:app``; it also serves ``tests/node/shared``
(the behaviour tests as an ES module, and an empty page) at ``/``, so a browser page loads them
from the API's own origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import trio

from trio_socketapi import History, RequiredOnSubscribe, SocketAPI

app = SocketAPI(host="127.0.0.1", port=8000)
app.static("/", Path(__file__).resolve().parent / "node" / "shared")


@app.action("add")
async def add(a: int, b: int = 0) -> int:
    return a + b


@app.action("slow")
async def slow(ms: int, value: str) -> str:
    await trio.sleep(ms / 1000)
    return value


@app.action("fail")
async def fail(reason: str) -> None:
    raise ValueError(f"cannot: {reason}")


@app.channel("room", default_response=True)
async def room(name: Annotated[str, RequiredOnSubscribe], text: str = "welcome") -> str:
    return f"{name}: {text}"


@app.action("say")
async def say(name: str, text: str) -> None:
    await room(name=name, text=text)


@app.channel("log", history=History(size=100, ttl=60))
async def log(name: Annotated[str, RequiredOnSubscribe], text: str = "") -> str:
    return text


@app.action("log_say")
async def log_say(name: str, text: str) -> None:
    await log(name=name, text=text)
