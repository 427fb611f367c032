"""The command line: ``python -m trio_socketapi module:app --host H --port P``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from ._app import SocketAPI


def load_app(spec: str) -> SocketAPI:
    """Import ``module:attribute`` (from the current directory too) and return the app.

    Raises ``SystemExit`` with a readable message when the spec does not name a ``SocketAPI``.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"error: expected MODULE:APP (e.g. main:app), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"error: cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, SocketAPI):
        raise SystemExit(f"error: {spec!r} is not a trio_socketapi.SocketAPI (got {app!r})")
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the app named on the command line until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="trio-socketapi", description="Serve a trio_socketapi app over WebSocket."
    )
    parser.add_argument("app", help="the app to serve, as MODULE:ATTRIBUTE (e.g. main:app)")
    parser.add_argument("--host", default=None, help="interface to bind (default: the app's)")
    parser.add_argument("--port", type=int, default=None, help="port (default: the app's)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging level (default: info)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(message)s")
    app = load_app(args.app)
    try:
        app.run(args.host, args.port)
    except OSError as exc:
        raise SystemExit(f"error: cannot serve: {exc}") from exc
