"""trio_socketapi with ``tick`` keeping a ``History(size=100, ttl=300)`` in memory: every
broadcast recorded with its offset, against the plain app on rpc and fanout. Subscribers send
no ``id``, so their frames are socketapi's (the extension keys are opt-in)."""

from __future__ import annotations

from benchmarks.peers.trio_socketapi import command
from benchmarks.peers.workers import workers
from benchmarks.spec import Peer

PEER = Peer(
    "history_on",
    "trio_socketapi, history on",
    command,
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="trio_socketapi",
    env=(("BENCH_HISTORY", "1"),),
)

REDIS_PEER = Peer(
    "history_on_redis",
    "trio_socketapi --workers 1 (Redis), history on",
    workers(1),
    workloads=frozenset({"rpc", "fanout"}),
    variant_of="workers_1",
    needs_redis=True,
    modules=("coredis",),
    env=(("BENCH_HISTORY", "1"),),
)
"""The same on the Redis broker against ``workers_1``: one Lua script (record and ``PUBLISH``)
per broadcast instead of a ``PUBLISH``."""
