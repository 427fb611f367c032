"""trio_socketapi with channel history on: the cost of keeping it (rpc and fanout)."""

from __future__ import annotations

from benchmarks.spec import Peer

PEER = Peer(
    "history_on",
    "trio_socketapi, history on",
    None,
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="trio_socketapi",
    waiting_for="history (issue 16) is not on main yet",
)
