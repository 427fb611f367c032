"""The command line: ``python -m trio_socketapi module:app --host H --port P``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence

from ._app import SocketAPI
from ._cli_describe import COMMANDS as DESCRIBE_COMMANDS
from ._cli_describe import describe_main
from ._forward import PublishError

WORKER_STOP_TIMEOUT = 10.0
"""Seconds the supervisor waits for its workers to shut down before killing them."""


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
    if not hasattr(module, attribute):
        apps = sorted(name for name, value in vars(module).items() if isinstance(value, SocketAPI))
        hint = f" (its apps: {', '.join(apps)})" if apps else ""
        raise SystemExit(f"error: module {module_name!r} has no attribute {attribute!r}{hint}")
    app = getattr(module, attribute)
    if not isinstance(app, SocketAPI):
        raise SystemExit(f"error: {spec!r} is not a trio_socketapi.SocketAPI (got {app!r})")
    return app


def port_number(text: str) -> int:
    """A TCP port from the command line: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


def tls_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The server's TLS context from ``--ssl-certfile``/``--ssl-keyfile``, or ``None``.

    Raises ``SystemExit`` with the reason when the files cannot be loaded.
    """
    if certfile is None:
        if keyfile is not None:
            raise SystemExit("error: --ssl-keyfile needs --ssl-certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"error: cannot load the TLS certificate: {exc}") from exc
    return context


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the app named on the command line until Ctrl-C / SIGTERM (or, with ``asyncapi`` or
    ``typescript`` first, print the app's description: _cli_describe.py)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in DESCRIBE_COMMANDS:
        raise SystemExit(describe_main(arguments))
    parser = argparse.ArgumentParser(
        prog="trio-socketapi", description="Serve a trio_socketapi app over WebSocket."
    )
    parser.add_argument("app", help="the app to serve, as MODULE:ATTRIBUTE (e.g. main:app)")
    parser.add_argument("--host", default=None, help="interface to bind (default: the app's)")
    parser.add_argument("--port", type=port_number, default=None, help="port (default: the app's)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port with SO_REUSEPORT (needs a shared broker)",
    )
    parser.add_argument(
        "--ssl-certfile", default=None, help="serve wss:// with this certificate chain (PEM)"
    )
    parser.add_argument(
        "--ssl-keyfile", default=None, help="the certificate's private key (default: in certfile)"
    )
    parser.add_argument(
        "--scheduling",
        choices=["fifo", "trio"],
        default="fifo",
        help="run woken tasks in the order they woke (fifo, the default) or in trio's random order",
    )
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging level (default: info)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(message)s")
    ssl_context = tls_context(args.ssl_certfile, args.ssl_keyfile)
    app = load_app(args.app)
    if args.workers < 1:
        raise SystemExit("error: --workers must be at least 1")
    if args.workers > 1:
        if not app.broker.is_shared:
            raise SystemExit(
                "error: --workers N>1 needs a shared broker, e.g."
                " SocketAPI(broker=RedisBroker(...)): each worker has its own subscribers,"
                " and only a shared broker carries a broadcast to all of them"
            )
        port = app.port if args.port is None else args.port
        if port == 0:
            raise SystemExit("error: --workers N>1 needs a fixed --port, not 0")
        host = app.host if args.host is None else args.host
        tls = [] if ssl_context is None else ["--ssl-certfile", args.ssl_certfile]
        if ssl_context is not None and args.ssl_keyfile:
            tls += ["--ssl-keyfile", args.ssl_keyfile]
        extra = [*tls, "--scheduling", args.scheduling]
        raise SystemExit(run_workers(args.app, host, port, args.workers, args.log_level, extra))
    try:
        app.run(
            args.host,
            args.port,
            ssl_context=ssl_context,
            reuse_port=args.reuse_port,
            scheduling=args.scheduling,
        )
    except (OSError, PublishError) as exc:  # cannot bind; the broker (Redis) is unreachable
        raise SystemExit(f"error: cannot serve: {exc}") from exc


def run_workers(
    spec: str, host: str, port: int, workers: int, log_level: str, extra: Sequence[str] = ()
) -> int:
    """Start ``workers`` server processes on one port; relay SIGINT/SIGTERM; return an exit code.

    The parent only supervises: it forwards the first signal to every worker, waits up to
    ``WORKER_STOP_TIMEOUT`` for them to shut down cleanly, and kills what is left.
    """
    command = [sys.executable, "-m", "trio_socketapi", spec, "--host", host, "--port", str(port)]
    command += ["--reuse-port", "--log-level", log_level, *extra]
    children = [subprocess.Popen(command) for _ in range(workers)]
    stopping: list[int] = []

    def relay(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, relay) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        if not stopping:  # a worker died on its own: take the others down too
            relay(signal.SIGTERM, None)
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT
        for child in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [c.returncode for c in children if c.returncode not in (0, -signal.SIGINT)]
    return 1 if failed and not stopping else 0
