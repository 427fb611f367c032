"""``slow_consumer``: 100 subscribers plus one that never reads, 2000 messages of 4 KiB."""

from __future__ import annotations

from typing import Any

from benchmarks.spec import Figure, Workload

# Yes/no figures, and counts that only mean something next to each other: no ratios.
FIGURES = (
    Figure("published", "messages published", ",.0f", ratio=False),
    Figure("readers_min_received", "fewest msgs a reader got", ",.0f", ratio=False),
    Figure("stalled_closed", "stalled one closed", "yesno", ratio=False),
    Figure("stalled_close_code", "close code it read", ".0f", ratio=False),
    Figure("rss_growth", "server RSS growth MiB", "mib", ratio=False),
    Figure("publish_s", "publishing took s", ".1f", ratio=False),
)


def progress(r: dict[str, Any]) -> str:
    return (
        f"readers got {r['readers_min_received']}..{r['readers_max_received']} of "
        f"{r['messages']}, stalled closed: {r['stalled_closed']} "
        f"(code {r['stalled_close_code']}), RSS +{r['rss_growth'] / 2**20:.1f} MiB"
        + (f"  {r['outcome']}" if r.get("outcome") else "")
        + (f"  ERROR {r['error']}" if r.get("error") else "")
    )


def workloads(quick: bool) -> list[Workload]:
    waits = ("2", "3") if quick else ("3", "5")
    args = ("slow_consumer", "--subscribers", "100", "--messages", "2000", "--size", "4096")
    args += ("--timeout", "60", "--reply-timeout", waits[0], "--close-wait", waits[1])
    return [Workload("slow_consumer", args, 150, FIGURES, progress)]
