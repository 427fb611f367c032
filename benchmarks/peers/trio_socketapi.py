"""This package serving ``benchmarks/apps/trio_app.py`` through ``python -m trio_socketapi``."""

from __future__ import annotations

from benchmarks.spec import HOST, Endpoint, Peer, python_m

QUIET = ("--log-level", "warning")


def command(at: Endpoint) -> list[str]:
    app = "benchmarks.apps.trio_app:app"
    return python_m("trio_socketapi", app, "--host", HOST, "--port", str(at.port), *QUIET)


PEER = Peer("trio_socketapi", "trio_socketapi", command)
