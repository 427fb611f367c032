"""socketapi 0.2.0 (PyPI) serving the same app on ``uvicorn[standard]``: the baseline."""

from __future__ import annotations

from benchmarks.spec import HOST, Endpoint, Peer, python_m

QUIET = ("--log-level", "warning", "--no-access-log")


def command(at: Endpoint) -> list[str]:
    app = "benchmarks.apps.socketapi_app:app"
    return python_m("uvicorn", app, "--host", HOST, "--port", str(at.port), *QUIET)


# socketapi never echoes ids, so pipelined requests carry none and replies match in order.
PEER = Peer("socketapi", "socketapi 0.2.0 (uvicorn)", command, ids=False, modules=("socketapi",))
