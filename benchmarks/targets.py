"""The targets a run is checked against (issue 17's, and the slow-consumer guarantees), as data.

A ratio target is trio_socketapi's median ÷ a peer's median of one figure, from the same run.
Adding a target is one line in ``RATIOS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.peers import BASELINE, ME
from benchmarks.report import Summary, fmt, ratio


@dataclass(frozen=True)
class Ratio:
    text: str
    workload: str
    key: str
    peer: str
    limit: float
    at_least: bool
    mine: str = ME


SOCKETIO, WEBSOCKETS = "python_socketio", "raw_websockets"
RATIOS = (
    Ratio("rpc actions/s >= 1.5 x python-socketio", "rpc", "actions_per_s", SOCKETIO, 1.5, True),
    Ratio("rpc actions/s >= 5 x socketapi", "rpc", "actions_per_s", BASELINE, 5, True),
    Ratio("rpc actions/s >= 0.8 x raw websockets", "rpc", "actions_per_s", WEBSOCKETS, 0.8, True),
    Ratio(
        "rpc actions/s >= 0.85 x raw trio-websocket", "rpc", "actions_per_s", "raw_trio", 0.85, True
    ),
    Ratio("rpc p99 latency <= 0.7 x python-socketio", "rpc", "p99_ms", SOCKETIO, 0.7, False),
    Ratio("fanout deliveries/s >= 3 x socketapi", "fanout", "deliveries_per_s", BASELINE, 3, True),
    Ratio(
        "fanout deliveries/s >= 1.3 x raw websockets",
        "fanout",
        "deliveries_per_s",
        WEBSOCKETS,
        1.3,
        True,
    ),
    Ratio(
        "idle bytes/conn <= 0.7 x socketapi",
        "idle_mem",
        "bytes_per_connection",
        BASELINE,
        0.7,
        False,
    ),
    Ratio(
        "idle bytes/conn <= 1.1 x raw websockets",
        "idle_mem",
        "bytes_per_connection",
        WEBSOCKETS,
        1.1,
        False,
    ),
    Ratio(
        "--workers 2 / --workers 1, rpc actions/s >= 1.6",
        "rpc",
        "actions_per_s",
        "workers_1",
        1.6,
        True,
        "workers_2",
    ),
    Ratio(
        "history on / off, fanout deliveries/s >= 0.75 (memory)",
        "fanout",
        "deliveries_per_s",
        ME,
        0.75,
        True,
        "history_on",
    ),
)

SLOW_CONSUMER_SLACK = 4 * 2**20
"""Allowance over one full outbox for allocator and buffer noise (the stalled client's 2000
messages are ~8 MiB: a server that queues them without bound exceeds the bound)."""


@dataclass
class Target:
    text: str
    measured: str
    met: bool | None


def outbox_bound(summary: Summary) -> tuple[int | None, str]:
    """RSS growth allowed on slow_consumer: one full outbox of the stalled client, plus slack."""
    try:
        from trio_socketapi import Settings

        outbox = Settings().outbox_size
    except Exception:
        return None, "trio_socketapi.Settings not importable"
    cell = summary.get("slow_consumer", {}).get(ME, {})
    frame = cell.get("frame_bytes") or 4200
    bound = int(outbox * frame + SLOW_CONSUMER_SLACK)
    return bound, (
        f"outbox {outbox} x {frame} B + {SLOW_CONSUMER_SLACK / 2**20:.0f} MiB slack"
        f" = {bound / 2**20:.1f} MiB"
    )


def slow_consumer(summary: Summary) -> list[Target]:
    cell: dict[str, Any] | None = summary.get("slow_consumer", {}).get(ME)
    if cell is None:
        return [Target("slow_consumer", "-", None)]
    bound, how = outbox_bound(summary)
    got_all = bool(cell.get("all_readers_got_all")) and not cell["errors"]
    closed = bool(cell.get("stalled_closed"))
    growth = cell.get("rss_growth")
    bounded = bound is not None and growth is not None and growth <= bound
    return [
        Target(
            f"slow_consumer: every reader gets all {cell.get('messages', 2000):.0f}",
            f"fewest {fmt(cell.get('readers_min_received'), ',.0f')}",
            got_all,
        ),
        Target(
            "slow_consumer: the stalled one is closed", "closed" if closed else "not closed", closed
        ),
        Target(f"slow_consumer: RSS growth <= {how}", f"{fmt(growth, 'mib')} MiB", bounded),
    ]


def evaluate(summary: Summary) -> list[Target]:
    found = []
    for t in RATIOS:
        r = ratio(summary, t.workload, t.key, t.mine, t.peer)
        if r is None:
            found.append(Target(t.text, "-", None))
        else:
            found.append(Target(t.text, f"{r:.2f}x", r >= t.limit if t.at_least else r <= t.limit))
    return found + slow_consumer(summary)


def targets_text(found: list[Target]) -> str:
    width = max(len(t.text) for t in found) + 2
    lines = [f"{'target (trio_socketapi)':<{width}}{'measured':>12}  status", "-" * (width + 22)]
    for t in found:
        status = "not measured" if t.met is None else ("met" if t.met else "NOT MET")
        lines.append(f"{t.text:<{width}}{t.measured:>12}  {status}")
    return "\n".join(lines)
