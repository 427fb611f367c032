"""A hand-written trio-websocket server for the same messages (``benchmarks/apps/raw_trio.py``)."""

from __future__ import annotations

from benchmarks.spec import HOST, Endpoint, Peer, python_m


def command(at: Endpoint) -> list[str]:
    return python_m("benchmarks.apps.raw_trio", "--host", HOST, "--port", str(at.port))


PEER = Peer("raw_trio", "raw trio-websocket", command)
