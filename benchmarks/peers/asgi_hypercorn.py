"""trio_socketapi through its ASGI entry point under hypercorn's trio worker (rpc and fanout)."""

from __future__ import annotations

from benchmarks.spec import Peer

PEER = Peer(
    "asgi_hypercorn",
    "trio_socketapi ASGI on hypercorn (trio)",
    None,
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="trio_socketapi",
    waiting_for="the ASGI entry point (issue 13) is not on main yet",
)
