"""trio_socketapi with ``Settings(serve_metrics=True)``: ``/metrics`` served and its histograms
recorded (action latency, fan-out), against the plain app on rpc and fanout."""

from __future__ import annotations

from benchmarks.peers.trio_socketapi import command
from benchmarks.spec import Peer

PEER = Peer(
    "metrics_on",
    "trio_socketapi, /metrics on",
    command,
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="trio_socketapi",
    env=(("BENCH_METRICS", "1"),),
)
