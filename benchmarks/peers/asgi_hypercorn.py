"""trio_socketapi's ASGI entry point (the ``SocketAPI`` is the ASGI app) under hypercorn's trio
worker, against the native server on rpc and fanout. Runs once ``trio_socketapi._asgi`` exists."""

from __future__ import annotations

from benchmarks.spec import HOST, Endpoint, Peer, python_m


def command(at: Endpoint) -> list[str]:
    bind = f"{HOST}:{at.port}"
    app = "benchmarks.apps.trio_app:app"
    return python_m("hypercorn", "-k", "trio", "--bind", bind, "--log-level", "warning", app)


PEER = Peer(
    "asgi_hypercorn",
    "trio_socketapi ASGI on hypercorn (trio)",
    command,
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="trio_socketapi",
    modules=("trio_socketapi._asgi", "hypercorn"),
)
