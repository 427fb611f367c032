"""The benchmark's own logic: medians, ratios and targets from raw results, and the Socket.IO
frames the load generator writes and reads (as python-socketio 5 sends them)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import report, targets
from benchmarks.dialects import DIALECTS
from benchmarks.peers import ALL, COMPARED
from benchmarks.workloads import chosen


def rpc(rate: float, p99: float) -> dict[str, Any]:
    return {"actions_per_s": rate, "p99_ms": p99, "client_cpu_frac": 0.2, "errors": 0}


def test_medians_ratios_and_targets_come_from_the_same_run() -> None:
    raw = {
        "rpc": {
            "trio_socketapi": [rpc(100, 1.0), rpc(300, 3.0), rpc(200, 2.0)],
            "python_socketio": [rpc(100, 4.0), rpc(100, 4.0), rpc(500, 1.0)],
            "socketapi": [rpc(40, 9.0)],
            "workers_1": [rpc(100, 1.0)],
            "workers_2": [rpc(150, 1.0)],
        }
    }
    summary = report.summarize(raw)
    assert summary["rpc"]["trio_socketapi"]["actions_per_s"] == 200
    assert report.ratio(summary, "rpc", "actions_per_s", "trio_socketapi", "socketapi") == 5.0
    found = {t.text: t for t in targets.evaluate(summary)}
    assert found["rpc actions/s >= 1.5 x python-socketio"].met is True  # 200 / 100
    assert found["rpc actions/s >= 1.5 x python-socketio"].measured == "2.00x"
    assert found["rpc actions/s >= 5 x socketapi"].met is True
    assert found["rpc p99 latency <= 0.7 x python-socketio"].met is True  # 2.0 / 4.0
    assert found["--workers 2 / --workers 1, rpc actions/s >= 1.6"].met is False  # 1.5
    assert found["fanout deliveries/s >= 3 x socketapi"].met is None  # not measured
    text = report.ratios_table(summary, chosen(True), ["trio_socketapi", "python_socketio"])
    assert "2.00x" in text


def test_a_yes_no_figure_holds_only_if_it_held_every_time() -> None:
    runs = [{"stalled_closed": True}, {"stalled_closed": False}, {"stalled_closed": True}]
    assert report.median_of(runs, "stalled_closed") is False


def test_every_variant_names_a_peer_it_is_compared_with() -> None:
    for peer in ALL.values():
        assert peer.variant_of is None or peer.variant_of in ALL
    assert COMPARED[:2] == ["trio_socketapi", "socketapi"]


SIO = DIALECTS["socketio"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"431[3]", (1, True, 3)),
        (b'4312["subscribed"]', (12, True, "subscribed")),
        (b'44{"message":"bad"}', (None, False, '44{"message":"bad"}')),
    ],
)
def test_socketio_acks_are_read_by_id(raw: bytes, expected: tuple[Any, bool, Any]) -> None:
    assert SIO.reply(raw) == expected


def test_socketio_requests_and_broadcasts() -> None:
    assert SIO.add(7, 1, 2, False) == b'427["add",{"a":1,"b":2}]'
    assert SIO.data_seq(b'42["tick",{"seq":5,"ts":0.5,"pad":""}]') == 5
    with pytest.raises(ValueError):
        SIO.data_seq(b"431[3]")
    assert SIO.control(b"2") == (b"3", False)  # an Engine.IO ping is answered
    assert SIO.control(b'0{"sid":"x","upgrades":[]}') == (b"40", False)
    assert SIO.control(b'40{"sid":"y"}') == (None, True)
