"""What a peer (a server under test) and a workload are: the two kinds of benchmark file.

A new peer is one file in ``benchmarks/peers/`` defining ``PEER``; a new workload is one file in
``benchmarks/workloads/`` defining ``workloads(quick)``. Each package's ``__init__`` lists its
files in the order the run interleaves them.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"


def python_m(module: str, *args: str) -> list[str]:
    """``python -m module args...`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@dataclass(frozen=True)
class Endpoint:
    """Where a peer is started: its port, and the Redis URL when it needs one."""

    port: int
    redis_url: str | None = None


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    command: Callable[[Endpoint], list[str]] | None
    """The server's command line (run with the repository as the working directory)."""
    ids: bool = True
    """Whether replies echo ``"id"`` (so pipelined requests carry one)."""
    dialect: str = "socketapi"
    """The load generator's message format: ``socketapi`` or ``socketio`` (Socket.IO v5)."""
    path: str = "/"
    """The WebSocket URL's path and query."""
    workloads: frozenset[str] | None = None
    """The workloads it runs (``None``: all)."""
    variant_of: str | None = None
    """A cost row: this peer is trio_socketapi with something on, compared with that peer."""
    needs_redis: bool = False
    env: tuple[tuple[str, str], ...] = ()
    """Environment variables the server gets on top of the runner's."""
    modules: tuple[str, ...] = ()
    """Modules it needs; a missing one makes the peer pending (listed, not run)."""
    waiting_for: str | None = None
    """A feature not on main yet: the peer is listed as pending until its file is filled in."""

    def runs(self, workload: str) -> bool:
        return self.workloads is None or workload in self.workloads

    def pending(self) -> str | None:
        """Why this peer cannot run here (``None`` when it can)."""
        if self.waiting_for is not None:
            return f"pending: {self.waiting_for}"
        for module in self.modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                return f"needs {module}, not installed or not on main yet"
        return None


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    spec: str
    """A format spec, or ``yesno`` / ``mib``."""
    ratio: bool = True
    """Whether a ratio between peers means something for this figure."""
    lower_is_better: bool = False


@dataclass(frozen=True)
class Workload:
    name: str
    args: tuple[str, ...]
    """The load generator's command line after ``python -m benchmarks.loadgen``."""
    timeout: float
    """Bound on the load generator's whole run, in seconds."""
    figures: tuple[Figure, ...]
    progress: Callable[[dict[str, Any]], str]
    """One line about one measurement, printed as the run goes."""
    ids: bool = False
    """Send ``id``s to peers that echo them."""
