"""A hand-written ``websockets`` asyncio server for the same messages
(``benchmarks/apps/raw_websockets.py``)."""

from __future__ import annotations

from benchmarks.spec import HOST, Endpoint, Peer, python_m


def command(at: Endpoint) -> list[str]:
    return python_m("benchmarks.apps.raw_websockets", "--host", HOST, "--port", str(at.port))


PEER = Peer("raw_websockets", "raw websockets (asyncio)", command, modules=("websockets",))
