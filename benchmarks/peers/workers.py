"""trio_socketapi with a Redis broker, ``--workers 1`` and ``--workers 2`` (one shared Redis).

Both use the same broker, so their ratio is what the second worker process adds on this machine.
The runner starts one ``redis-server`` for the run; the worker count is the only difference.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.spec import HOST, Endpoint, Peer, python_m

QUIET = ("--log-level", "warning")


def workers(n: int) -> Callable[[Endpoint], list[str]]:
    def command(at: Endpoint) -> list[str]:
        app = "benchmarks.apps.trio_app:app"
        where = ("--host", HOST, "--port", str(at.port))
        return python_m("trio_socketapi", app, *where, "--workers", str(n), *QUIET)

    return command


PEERS = [
    Peer(
        f"workers_{n}",
        f"trio_socketapi --workers {n} (Redis)",
        workers(n),
        workloads=frozenset({"rpc", "fanout"}),
        variant_of="trio_socketapi" if n == 1 else "workers_1",
        needs_redis=True,
        modules=("coredis",),
    )
    for n in (1, 2)
]
