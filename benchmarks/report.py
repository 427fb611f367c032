"""The report of one run: medians over repetitions, and the tables printed from them.

``summarize`` turns every repetition's raw result into one cell per (workload, peer): the
median of each figure (a yes/no figure is "yes" only if it held in every repetition), plus
errors and early outcomes. The tables read only those cells.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.peers import ALL, BASELINE, ME
from benchmarks.spec import Figure, Workload
from benchmarks.workloads.fanout import SCALING

Summary = dict[str, dict[str, dict[str, Any]]]
"""workload -> peer -> figure -> median (and ``reps``, ``errors``, ``outcomes``)."""

RATE_KEYS = {"actions_per_s", "deliveries_per_s"}
CLIENT_BOUND = 0.9
"""Load-generator CPU share from which its rate counts as limited by the client."""
WIDTH = 22


def median_of(runs: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    if isinstance(values[0], bool):
        return all(values)  # a yes/no figure holds only if it held in every repetition
    return statistics.median(values)


def summarize(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> Summary:
    summary: Summary = {}
    for workload, by_peer in raw.items():
        summary[workload] = {}
        for peer, runs in by_peer.items():
            if not runs:
                continue
            keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float))}
            cell = {k: median_of(runs, k) for k in sorted(keys)}
            cell["reps"] = len(runs)
            cell["errors"] = [r["error"] for r in runs if r.get("error")]
            cell["outcomes"] = sorted({r["outcome"] for r in runs if r.get("outcome")})
            if workload.startswith("rpc"):
                cell["errors"] += [
                    f"{r['errors']} bad replies: {r.get('first_error')}"
                    for r in runs
                    if r.get("errors")
                ]
            summary[workload][peer] = cell
    return summary


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if spec == "yesno":
        return "yes" if value else "NO"
    if spec == "mib":
        return f"{value / 2**20:.1f}"
    return format(value, spec)


def ratio(summary: Summary, workload: str, key: str, mine: str, theirs: str) -> float | None:
    """``mine``'s median ÷ ``theirs``'s, from the same run (``None`` when either is missing)."""
    a = summary.get(workload, {}).get(mine, {}).get(key)
    b = summary.get(workload, {}).get(theirs, {}).get(key)
    if a is None or b in (None, 0):
        return None
    return float(a) / float(b)


def _cell_text(summary: Summary, workload: str, peer: str, figure: Figure, base: str) -> str:
    cell = summary[workload].get(peer)
    if cell is None:
        return "-"
    text = fmt(cell.get(figure.key), figure.spec)
    if cell["errors"]:
        text += "!"
    if figure.key in RATE_KEYS and (cell.get("client_cpu_frac") or 0) >= CLIENT_BOUND:
        text += "^"
    r = ratio(summary, workload, figure.key, peer, base)
    if peer != base and figure.ratio and r is not None:
        text += f" ({r:.2f}x)"
    return text


def figures_table(summary: Summary, workloads: list[Workload], peers: list[str]) -> str:
    """Every figure of every workload, one column per peer, ratios to socketapi."""
    head = f"{'workload':<15}{'figure':<26}" + "".join(f"{p:>{WIDTH}}" for p in peers)
    lines = [head, "-" * len(head)]
    for workload in workloads:
        if workload.name not in summary:
            continue
        for i, figure in enumerate(workload.figures):
            row = f"{workload.name if i == 0 else '':<15}{figure.label:<26}"
            for peer in peers:
                row += f"{_cell_text(summary, workload.name, peer, figure, BASELINE):>{WIDTH}}"
            lines.append(row)
    lines.append(
        f"(x) = ratio to {BASELINE} from the medians of this run; "
        "! = a repetition had an error (listed below);\n"
        f"^ = the load generator used >= {CLIENT_BOUND:.0%} of a CPU: the rate is a lower bound"
    )
    return "\n".join(lines)


def ratios_table(summary: Summary, workloads: list[Workload], peers: list[str]) -> str:
    """trio_socketapi ÷ each other peer, for every figure a ratio means something for."""
    others = [p for p in peers if p != ME]
    if ME not in peers or not others:
        return ""
    head = f"{ME + ' / peer':<41}" + "".join(f"{p:>{WIDTH}}" for p in others)
    lines = [head, "-" * len(head)]
    for workload in workloads:
        for figure in workload.figures:
            if not figure.ratio or workload.name not in summary:
                continue
            row = f"{workload.name + ' ' + figure.label:<41}"
            for peer in others:
                r = ratio(summary, workload.name, figure.key, ME, peer)
                row += f"{'-' if r is None else f'{r:.2f}x':>{WIDTH}}"
            lines.append(row)
    lines.append("(lower is better for latency, memory and CPU per delivery)")
    return "\n".join(lines)


def variants_table(summary: Summary, workloads: list[Workload], variants: list[str]) -> str:
    """Cost rows: each variant beside the peer it changes one thing of, and their ratio."""
    if not variants:
        return ""
    head = f"{'variant':<22}{'workload':<10}{'figure':<24}{'variant':>14}{'base':>14}{'ratio':>9}"
    lines = [head, "-" * len(head)]
    for name in variants:
        base = ALL[name].variant_of
        assert base is not None
        for workload in workloads:
            if workload.name not in summary or name not in summary[workload.name]:
                continue
            for figure in workload.figures:
                if not figure.ratio or figure.key in ("p50_ms",):
                    continue
                r = ratio(summary, workload.name, figure.key, name, base)
                mine = _cell_text(summary, workload.name, name, figure, name)
                theirs = _cell_text(summary, workload.name, base, figure, base)
                lines.append(
                    f"{name:<22}{workload.name:<10}{figure.label:<24}{mine:>14}{theirs:>14}"
                    f"{'-' if r is None else f'{r:.2f}x':>9}"
                )
    lines.append("(base: " + ", ".join(f"{v} vs {ALL[v].variant_of}" for v in variants) + ")")
    return "\n".join(lines)


def scaling_text(summary: Summary, peers: list[str]) -> str:
    """The scaling row: deliveries/s (server CPU us per delivery) by subscriber count."""
    points = [(w, n) for w, n in SCALING if w in summary]
    if len(points) < 2:
        return ""
    lines = [
        "scaling: fanout deliveries/s (server CPU us per delivery) at "
        + " / ".join(str(n) for _, n in points)
        + " subscribers"
    ]
    for peer in peers:
        cells = []
        for workload, _ in points:
            cell = summary[workload].get(peer) or {}
            cells.append(
                f"{fmt(cell.get('deliveries_per_s'), ',.0f')} "
                f"({fmt(cell.get('server_cpu_us_per_delivery'), '.1f')})"
            )
        lines.append(f"  {peer:<16}" + " / ".join(cells))
    return "\n".join(lines)


def listed(summary: Summary, what: str, heading: str) -> str:
    """Every cell's errors (``what="errors"``) or early outcomes, one line each."""
    found = [
        f"  {w} / {p}: {e}"
        for w, cells in summary.items()
        for p, c in cells.items()
        for e in c[what]
    ]
    return heading + "\n" + "\n".join(found) if found else ""


def progress_line(workload: Workload, r: dict[str, Any]) -> str:
    keys = ("actions_per_s", "deliveries_per_s", "bytes_per_connection", "rss_growth")
    if r.get("error") and not any(k in r for k in keys):
        return f"ERROR {r['error'][:150]}"
    try:
        return workload.progress(r)
    except (KeyError, TypeError, ValueError):
        return str(r)[:150]
