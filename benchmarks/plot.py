"""The bar chart of one benchmark run: ``python -m benchmarks.plot RESULTS.json [OUT.png]``.

``benchmarks.run`` calls ``make_chart`` at the end of every run. One panel per headline figure,
one bar per server, each labelled with its value and its ratio to socketapi.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLORS = {
    "trio_socketapi": "#2a7ab9",
    "socketapi": "#9a9a9a",
    "raw_trio": "#e08a2c",
    "python_socketio": "#5aa05a",
    "raw_websockets": "#b05fa0",
}
LABELS = {
    "trio_socketapi": "trio_socketapi",
    "socketapi": "socketapi\n0.2.0",
    "raw_trio": "raw\ntrio-websocket",
    "python_socketio": "python-socketio\n(uvloop)",
    "raw_websockets": "raw websockets\n(asyncio)",
}
PANELS = [
    # (workload, key, title, higher is better, scale, unit)
    ("rpc", "actions_per_s", "rpc: actions/s", True, 1, ""),
    ("rpc", "p99_ms", "rpc: p99 latency (ms)", False, 1, ""),
    ("rpc_pipelined", "actions_per_s", "rpc, 16 in flight: actions/s", True, 1, ""),
    ("fanout", "deliveries_per_s", "fanout 1000 subs: deliveries/s", True, 1, ""),
    ("idle_mem", "bytes_per_connection", "idle: KiB per connection", False, 1 / 1024, ""),
]
RATES = {"actions_per_s", "deliveries_per_s"}
CLIENT_BOUND = 0.9
"""As in ``benchmarks.run``: a rate marked ^ had the load generator at >= 90 % of a CPU."""
SCALING = [("fanout_100", 100), ("fanout", 1000), ("fanout_5000", 5000)]


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def make_chart(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = document["summary"]
    servers = document["plan"].get("compared", document["plan"]["servers"])
    env = document["environment"]
    fig, axes = plt.subplots(2, 3, figsize=(17, 9))
    for ax, (workload, key, title, higher, scale, _unit) in zip(axes.flat, PANELS, strict=False):
        ax.set_title(title + ("" if higher else "  (lower is better)"), fontsize=10)
        cells = summary.get(workload, {})
        base = (cells.get("socketapi") or {}).get(key)
        names, values = [], []
        for s in servers:
            v = (cells.get(s) or {}).get(key)
            if v is not None:
                names.append(s)
                values.append(v * scale)
        bars = ax.bar(
            [LABELS.get(n, n) for n in names], values, color=[COLORS.get(n, "#555") for n in names]
        )
        for bar, name, v in zip(bars, names, values, strict=True):
            text = _short(v)
            if key in RATES and (cells[name].get("client_cpu_frac") or 0) >= CLIENT_BOUND:
                text += "^"
            if base and name != "socketapi":
                text += f"\n{v / (base * scale):.2f}x"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.margins(y=0.25)
        ax.tick_params(axis="x", labelsize=7.5)
    # Scaling: deliveries/s at 100, 1000, 5000 subscribers, grouped by server.
    ax = axes.flat[5]
    ax.set_title("fanout scaling: deliveries/s by subscribers", fontsize=10)
    width = 0.8 / max(1, len(servers))
    points = [(w, n) for w, n in SCALING if w in summary]
    for i, s in enumerate(servers):
        xs, ys, bound = [], [], []
        for j, (workload, _n) in enumerate(points):
            cell = summary.get(workload, {}).get(s) or {}
            v = cell.get("deliveries_per_s")
            if v is not None:
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(v)
                bound.append((cell.get("client_cpu_frac") or 0) >= CLIENT_BOUND)
        bars = ax.bar(xs, ys, width, label=LABELS.get(s, s), color=COLORS.get(s, "#555"))
        for bar, v, limited in zip(bars, ys, bound, strict=True):
            ax.annotate(
                _short(v) + ("^" if limited else ""),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(points)), [str(n) for _, n in points])
    fig.text(
        0.5,
        0.005,
        "^ = the load generator used >= 90% of a CPU (the rate is a lower bound); "
        "ratios are to socketapi from the same run",
        ha="center",
        fontsize=8,
    )
    ax.margins(y=0.45)
    ax.legend(fontsize=7, loc="upper right", ncols=2)
    versions = env.get("versions", {})
    fig.suptitle(
        f"trio_socketapi benchmark ({env.get('mode')}, medians of {env.get('reps')} "
        f"interleaved repetitions), {env.get('date', '')[:10]}, {env.get('cpus')} CPUs, "
        f"Python {env.get('python')}, trio-websocket {versions.get('trio-websocket', '?')}, "
        f"socketapi {versions.get('socketapi', '?')} on uvicorn {versions.get('uvicorn', '?')}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m benchmarks.plot RESULTS.json [OUT.png]")
    document = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("benchmarks/results.png")
    make_chart(document, out)
    print(out)


if __name__ == "__main__":
    main()
