"""``fanout``: 1000 subscribers of ``tick``, a publisher process publishing 200 messages one
after another; ``fanout_100`` and ``fanout_5000`` (full runs only) make the scaling row."""

from __future__ import annotations

from typing import Any

from benchmarks.spec import Figure, Workload

FIGURES = (
    Figure("deliveries_per_s", "deliveries/s", ",.0f"),
    Figure("p50_ms", "p50 ms", ".1f", lower_is_better=True),
    Figure("p99_ms", "p99 ms", ".1f", lower_is_better=True),
    Figure("server_cpu_us_per_delivery", "server CPU us/delivery", ".1f", lower_is_better=True),
    Figure("server_cpu_frac", "server CPU", ".0%", ratio=False),
    Figure("client_cpu_frac", "loadgen CPU", ".0%", ratio=False),
    Figure("helper_cpu_frac", "publisher CPU", ".0%", ratio=False),
    Figure("other_cpu_frac", "rest of machine CPU", ".0%", ratio=False),
)
SCALING_KEYS = {"deliveries_per_s", "server_cpu_us_per_delivery", "client_cpu_frac"}
SCALING_FIGURES = tuple(f for f in FIGURES if f.key in SCALING_KEYS | {"other_cpu_frac"})
SCALING = (("fanout_100", 100), ("fanout", 1000), ("fanout_5000", 5000))
"""The scaling row: workload name and subscriber count."""


def progress(r: dict[str, Any]) -> str:
    rate = "-" if r.get("deliveries_per_s") is None else f"{r['deliveries_per_s']:,.0f}"
    p99 = "-" if r.get("p99_ms") is None else f"{r['p99_ms']:.1f}"
    return (
        f"{rate:>9} deliveries/s  p99 {p99} ms  server {r['server_cpu_frac']:.0%} "
        f"loadgen {r['client_cpu_frac']:.0%} other {r.get('other_cpu_frac', 0):.0%}"
        + (f"  {r['error']}" if r.get("error") else "")
    )


def fanout(name: str, subscribers: int, timeout: int, figures: tuple[Figure, ...]) -> Workload:
    args = ("fanout", "--subscribers", str(subscribers), "--messages", "200")
    return Workload(name, (*args, "--timeout", str(timeout)), 2.5 * timeout, figures, progress)


def workloads(quick: bool) -> list[Workload]:
    chosen = [
        fanout("fanout", 1000, 60, FIGURES),
        fanout("fanout_100", 100, 60, SCALING_FIGURES),
    ]
    if not quick:  # opening 15 000 connections (5000 per peer) takes a while
        chosen.append(fanout("fanout_5000", 5000, 120, SCALING_FIGURES))
    return chosen
