"""``idle_mem``: 2000 connections, each subscribed, held open; bytes of server RSS each."""

from __future__ import annotations

from typing import Any

from benchmarks.spec import Figure, Workload

FIGURES = (Figure("bytes_per_connection", "bytes/connection", ",.0f", lower_is_better=True),)


def progress(r: dict[str, Any]) -> str:
    return f"{r['bytes_per_connection']:>9,.0f} bytes/connection"


def workloads(quick: bool) -> list[Workload]:
    args = ("idle_mem", "--connections", "2000", "--timeout", "60")
    return [Workload("idle_mem", args, 120, FIGURES, progress)]
