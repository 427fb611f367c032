"""The README tables of one run, in Markdown: ``python -m benchmarks.markdown RESULTS.json``.

Prints the side-by-side table (trio_socketapi's figure and its ratio to each peer), the cost
rows and the targets, all read from the run's saved summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import fmt, ratio

ME = "trio_socketapi"
ROWS = (
    ("rpc", "actions_per_s", "rpc actions/s", ",.0f"),
    ("rpc", "p99_ms", "rpc p99 ms", ".2f"),
    ("rpc_pipelined", "actions_per_s", "rpc_pipelined actions/s", ",.0f"),
    ("fanout", "deliveries_per_s", "fanout deliveries/s", ",.0f"),
    ("fanout", "server_cpu_us_per_delivery", "fanout server CPU µs/delivery", ".1f"),
    ("idle_mem", "bytes_per_connection", "idle bytes/connection", ",.0f"),
)


def side_by_side(summary: dict[str, Any], peers: list[str]) -> str:
    head = "| workload | " + " | ".join(peers) + " |"
    lines = [head, "|---" * (len(peers) + 1) + "|"]
    for workload, key, label, spec in ROWS:
        cells = []
        for peer in peers:
            value = summary.get(workload, {}).get(peer, {}).get(key)
            text = fmt(value, spec)
            r = ratio(summary, workload, key, ME, peer)
            if peer != ME and r is not None:
                text += f" ({r:.2f}x)"
            cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variants(summary: dict[str, Any], bases: dict[str, str]) -> str:
    lines = ["| variant | vs | rpc actions/s | fanout deliveries/s |", "|---|---|---|---|"]
    for name, base in bases.items():
        cells = []
        for workload, key in (("rpc", "actions_per_s"), ("fanout", "deliveries_per_s")):
            mine = summary.get(workload, {}).get(name, {}).get(key)
            r = ratio(summary, workload, key, name, base)
            cells.append(f"{fmt(mine, ',.0f')}" + ("" if r is None else f" ({r:.2f}x)"))
        lines.append(f"| `{name}` | `{base}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_rows(found: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for t in found:
        met = "not measured" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['text']} | {t['measured']} | {met} |")
    return "\n".join(lines)


def main() -> None:
    document = json.loads(Path(sys.argv[1]).read_text())
    plan = document["plan"]
    summary = document["summary"]
    print(side_by_side(summary, plan["compared"]))
    print()
    print(variants(summary, plan["variants"]))
    print()
    print(target_rows(document["targets"]))


if __name__ == "__main__":
    main()
