"""Typed client calls for ``tests/test_client_typing.py``: mypy must accept the lines without a
marker and report an error on each line marked ``# error``."""

from __future__ import annotations

from trio_socketapi import SocketAPI
from trio_socketapi.client import Client

app = SocketAPI()


@app.action("add")
async def add(a: int, b: int = 0) -> int:
    return a + b


@app.channel("room")
async def room(name: str) -> str:
    return name


async def calls(client: Client) -> None:
    total: int = await client.action(add, a=1, b=2)
    total = await client.action(add, 1)
    untyped = await client.action("add", a=1, b="anything goes by name")
    async with client.subscribe(room, name="a") as feed:
        text: str = await feed.receive()
    await client.action(add, a="x")  # error
    await client.action(add, c=1)  # error
    wrong: str = await client.action(add, a=1)  # error
    async with client.subscribe(room, nom="a"):  # error
        pass
    async with client.subscribe(room, name="a") as feed:
        number: int = await feed.receive()  # error
    print(total, untyped, text, number, wrong)
