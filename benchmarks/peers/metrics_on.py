"""trio_socketapi with ``/metrics`` on: the cost of counting (rpc and fanout, against plain)."""

from __future__ import annotations

from benchmarks.spec import Peer

PEER = Peer(
    "metrics_on",
    "trio_socketapi, /metrics on",
    None,
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="trio_socketapi",
    waiting_for="/metrics (issue 14) is not on main yet",
)
