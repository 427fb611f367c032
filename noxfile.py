"""Sessions: ``tests`` (pytest with coverage), ``lint`` (ruff, mypy --strict) and ``compat`` (the
same client script against socketapi), which ``nox`` runs; ``soak`` (the soak test at scale) and
``bench`` (the benchmark) on demand."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "compat"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with a coverage report.

    The TypeScript and JS client tests need Node: tests/node's packages (typescript,
    playwright-core) are installed here, and the tests must then run (not skip).
    """
    session.install("-e", ".[test]")
    session.run("npm", "ci", "--prefix", "tests/node", "--no-audit", "--no-fund", external=True)
    session.env["TRIO_SOCKETAPI_REQUIRE_NODE"] = "1"
    session.run(
        "pytest",
        "--cov=trio_socketapi",
        "--cov-report=term-missing:skip-covered",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy --strict on the package."""
    session.install("-e", ".[lint,redis]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "trio_socketapi")


@nox.session
def compat(session: nox.Session) -> None:
    """Differential test: every core exchange against socketapi 0.2.0 and trio_socketapi, and
    the Python and JS clients' compat modes against socketapi."""
    session.install("-e", ".[test]", "socketapi==0.2.0", "uvicorn")
    session.run(
        "pytest",
        "tests/test_socketapi_compat.py",
        "tests/test_client_compat.py",
        "tests/test_js_compat.py",
        "-p",
        "no:cacheprovider",
    )


@nox.session
def soak(session: nox.Session) -> None:
    """The soak tests at scale: 500 connections churning for 10 s per transport, and 200
    recovering clients for 20 s with a server restart, in memory and on Redis (minutes)."""
    session.install("-e", ".[test]")
    session.env.update({"SOAK_CONNECTIONS": "500", "SOAK_SECONDS": "10"})
    session.env.update({"HISTORY_SOAK_CLIENTS": "200", "HISTORY_SOAK_SECONDS": "20"})
    session.run(
        "pytest", "tests/test_soak.py", "tests/test_history_soak.py", "-s", *session.posargs
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark against socketapi, python-socketio and raw servers (``-- --quick``: a few min).

    The peers (socketapi, python-socketio, uvicorn, websockets, hypercorn), the picows load
    generator and matplotlib are installed here only.
    """
    session.install(
        "-e",
        ".[redis]",
        "socketapi==0.2.0",
        "python-socketio>=5.11,<6",
        "uvicorn[standard]",
        "websockets>=13",
        "hypercorn",
        "picows",
        "matplotlib",
    )
    session.run("python", "-m", "benchmarks.run", *session.posargs)
