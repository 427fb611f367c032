"""python-socketio's ``AsyncServer`` on uvicorn with uvloop (``benchmarks/apps/socketio_app.py``).

Socket.IO v5 over the WebSocket transport only: events with acks for the actions, a room for
the ``tick`` channel. The load generator speaks its dialect (Engine.IO 4 packets). Not run on
``fanout_5000``: its room emit delivers ~15k frames/s here, so that point alone would take
minutes per repetition (its 100 and 1000 points show the same per-delivery cost).
"""

from __future__ import annotations

from benchmarks.spec import HOST, Endpoint, Peer, python_m
from benchmarks.workloads import ORDER

QUIET = ("--log-level", "warning", "--no-access-log")


def command(at: Endpoint) -> list[str]:
    app = "benchmarks.apps.socketio_app:app"
    where = ("--host", HOST, "--port", str(at.port))
    return python_m("uvicorn", app, *where, "--loop", "uvloop", *QUIET)


PEER = Peer(
    "python_socketio",
    "python-socketio (uvicorn, uvloop)",
    command,
    dialect="socketio",
    path="/socket.io/?EIO=4&transport=websocket",
    modules=("socketio", "uvloop"),
    workloads=frozenset(ORDER) - {"fanout_5000"},
)
