"""``rpc``: 50 connections, each calling ``add`` and awaiting the reply; ``rpc_pipelined``: the
same with 16 requests in flight per connection (ids sent to peers that echo them)."""

from __future__ import annotations

from typing import Any

from benchmarks.spec import Figure, Workload

FIGURES = (
    Figure("actions_per_s", "actions/s", ",.0f"),
    Figure("p50_ms", "p50 ms", ".2f", lower_is_better=True),
    Figure("p99_ms", "p99 ms", ".2f", lower_is_better=True),
    Figure("actions_per_server_cpu_s", "actions / server CPU-s", ",.0f"),
    Figure("server_cpu_frac", "server CPU", ".0%", ratio=False),
    Figure("client_cpu_frac", "loadgen CPU", ".0%", ratio=False),
    Figure("other_cpu_frac", "rest of machine CPU", ".0%", ratio=False),
)


def progress(r: dict[str, Any]) -> str:
    p99 = "-" if r.get("p99_ms") is None else f"{r['p99_ms']:.2f}"
    text = (
        f"{r['actions_per_s']:>9,.0f} actions/s  p99 {p99} ms  "
        f"server {r['server_cpu_frac']:.0%} loadgen {r['client_cpu_frac']:.0%} "
        f"other {r.get('other_cpu_frac', 0):.0%}"
    )
    if r.get("errors"):
        text += f"  {r['errors']} bad replies"
    return text


def workloads(quick: bool) -> list[Workload]:
    warmup, duration = ("0.5", "2") if quick else ("1", "6")
    args = ("rpc", "--connections", "50", "--warmup", warmup, "--duration", duration)
    return [
        Workload("rpc", (*args, "--depth", "1"), 60, FIGURES, progress),
        Workload("rpc_pipelined", (*args, "--depth", "16"), 60, FIGURES, progress, ids=True),
    ]
