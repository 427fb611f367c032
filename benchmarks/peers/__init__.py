"""The peers, one file each, in the order every workload runs them (interleaved).

The first five are compared side by side (``COMPARED``); the rest are trio_socketapi with one
thing changed, each measured against the peer named in its ``variant_of`` (cost rows).
"""

from __future__ import annotations

from benchmarks.peers import (
    asgi_hypercorn,
    history_on,
    metrics_on,
    python_socketio,
    raw_trio,
    raw_websockets,
    socketapi,
    trio_socketapi,
    workers,
)
from benchmarks.spec import Peer

BASELINE = "socketapi"
ME = "trio_socketapi"

ALL: dict[str, Peer] = {
    p.name: p
    for p in (
        trio_socketapi.PEER,
        socketapi.PEER,
        raw_trio.PEER,
        python_socketio.PEER,
        raw_websockets.PEER,
        *workers.PEERS,
        metrics_on.PEER,
        history_on.PEER,
        history_on.REDIS_PEER,
        asgi_hypercorn.PEER,
    )
}
COMPARED = [name for name, p in ALL.items() if p.variant_of is None]
