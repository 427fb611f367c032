"""Sessions: ``tests`` (pytest with coverage), ``lint`` (ruff, mypy --strict). ``nox`` runs both."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with a coverage report."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "--cov=trio_socketapi",
        "--cov-report=term-missing:skip-covered",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy --strict on the package."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "trio_socketapi")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark against socketapi 0.2.0 and a raw trio-websocket server (``-- --quick``: 1 min).

    socketapi, uvicorn and the picows load generator are installed here only.
    """
    session.install("-e", ".", "socketapi==0.2.0", "uvicorn[standard]", "picows", "matplotlib")
    session.run("python", "-m", "benchmarks.run", *session.posargs)
