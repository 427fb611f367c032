"""``/metrics``: the app's counters and two histograms in Prometheus's text exposition format.

Written here rather than with ``prometheus_client``: that library keeps process-global
registries and locks built for threads, while these numbers already live on the app (one trio
thread updates them), and the text format (version 0.0.4) is a few lines to write. Histograms are
recorded only while ``Settings.serve_metrics`` is on, so an app that does not expose them pays
nothing on its hot paths.
"""

from __future__ import annotations

import bisect
import math

import attrs

from ._counters import Counters

PREFIX = "trio_socketapi_"
ACTION_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) for action latency: sub-millisecond handlers to slow I/O."""
FANOUT_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Upper bounds for the number of subscribers one broadcast reached."""
GAUGES = frozenset({"connections_open", "subscriptions"})
"""Counters fields that go down as well as up; every other field is a Prometheus counter."""
HELP = {
    "connections_open": "Connections currently open.",
    "connections_total": "Connections accepted since start.",
    "handshakes_refused": "Handshakes refused (origin, path, connection limit, hook).",
    "handshakes_timed_out": "Handshakes dropped unanswered after handshake_timeout.",
    "subscriptions": "Subscriptions currently held, over all connections.",
    "messages_in": "Messages received from clients.",
    "messages_out": "Frames queued to clients (replies and data frames).",
    "slow_consumer_closes": "Connections closed with 1013 because their outbox was full.",
    "frames_dropped": "Data frames dropped under the drop_oldest slow-consumer policy.",
    "handler_errors": "Unexpected exceptions raised by handlers.",
}


@attrs.define
class Histogram:
    """Observations counted into fixed buckets (each count is for its bucket alone)."""

    bounds: tuple[float, ...]
    counts: list[int] = attrs.field()
    total: float = 0.0
    count: int = 0

    @counts.default
    def _zeros(self) -> list[int]:
        return [0] * (len(self.bounds) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1


@attrs.define
class Metrics:
    """Histograms by handler name (the registered name, never a client-chosen one)."""

    action_seconds: dict[str, Histogram] = attrs.field(factory=dict)
    fanout_size: dict[str, Histogram] = attrs.field(factory=dict)

    def observe_action(self, name: str, seconds: float) -> None:
        """Record how long one call of action ``name`` took."""
        histogram = self.action_seconds.get(name)
        if histogram is None:
            histogram = self.action_seconds[name] = Histogram(ACTION_SECONDS_BUCKETS)
        histogram.observe(seconds)

    def observe_fanout(self, channel: str, subscribers: int) -> None:
        """Record how many subscribers one broadcast to ``channel`` reached."""
        histogram = self.fanout_size.get(channel)
        if histogram is None:
            histogram = self.fanout_size[channel] = Histogram(FANOUT_BUCKETS)
        histogram.observe(subscribers)


def render(counters: Counters, metrics: Metrics) -> str:
    """The Prometheus text exposition (format 0.0.4) of ``counters`` and ``metrics``."""
    lines: list[str] = []
    for field in attrs.fields(Counters):
        value = getattr(counters, field.name)
        kind = "gauge" if field.name in GAUGES else "counter"
        name = PREFIX + field.name
        if kind == "counter" and not name.endswith("_total"):
            name += "_total"
        help_text = HELP.get(field.name, field.name.replace("_", " ") + ".")
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    _histograms(
        lines,
        PREFIX + "action_duration_seconds",
        "Time from dispatching an action to its result (or error).",
        "action",
        metrics.action_seconds,
    )
    _histograms(
        lines,
        PREFIX + "broadcast_subscribers",
        "Subscribers one broadcast was delivered to, in this server.",
        "channel",
        metrics.fanout_size,
    )
    return "\n".join(lines) + "\n"


def _histograms(
    lines: list[str], name: str, help_text: str, label: str, histograms: dict[str, Histogram]
) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for key, histogram in sorted(histograms.items()):
        labels = f'{label}="{_escape(key)}"'
        cumulative = 0
        for bound, count in zip((*histogram.bounds, math.inf), histogram.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == math.inf else _number(bound)
            lines.append(f'{name}_bucket{{{labels},le="{le}"}} {cumulative}')
        lines.append(f"{name}_sum{{{labels}}} {_number(histogram.total)}")
        lines.append(f"{name}_count{{{labels}}} {histogram.count}")


def _number(value: float) -> str:
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
