"""The workloads, one file per kind; ``chosen(quick)`` lists them in the order a repetition runs."""

from __future__ import annotations

from benchmarks.spec import Workload
from benchmarks.workloads import fanout, idle_mem, rpc, slow_consumer

ORDER = (
    "rpc",
    "rpc_pipelined",
    "fanout",
    "idle_mem",
    "slow_consumer",
    "fanout_100",
    "fanout_5000",
)


def chosen(quick: bool) -> list[Workload]:
    """Every workload of a full run, or of a ``--quick`` one, in ``ORDER``."""
    found = {
        w.name: w
        for module in (rpc, fanout, idle_mem, slow_consumer)
        for w in module.workloads(quick)
    }
    return [found[name] for name in ORDER if name in found]
