"""Run the benchmark: every workload against every server, interleaved, and print one table.

    python -m benchmarks.run [--quick] [--reps N] [--servers ...] [--workloads ...]

(``nox -s bench`` builds the environment and runs this; see ``benchmarks/README.md``.)

Each measurement starts a fresh server process on a free loopback port, runs one load-generator
process (``benchmarks.loadgen``) against it, and stops the server (SIGINT, then SIGKILL). The
order is interleaved: for each repetition, for each workload, every server in turn (A B C, A B C).
Results go to ``benchmarks/results/`` as JSON; the chart to ``benchmarks/results.png`` (a full
run) or ``benchmarks/results/results-quick.png`` (``--quick``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.fdlimit import raise_fd_limit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
HOST = "127.0.0.1"
BASELINE = "socketapi"

# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Server:
    name: str
    label: str
    ids: bool
    """Whether replies echo ``"id"`` (so pipelined requests carry one)."""

    def command(self, port: int) -> list[str]:
        py = sys.executable
        if self.name == "trio_socketapi":
            return [
                py,
                "-m",
                "trio_socketapi",
                "benchmarks.apps.trio_app:app",
                "--host",
                HOST,
                "--port",
                str(port),
                "--log-level",
                "warning",
            ]
        if self.name == "socketapi":
            return [
                py,
                "-m",
                "uvicorn",
                "benchmarks.apps.socketapi_app:app",
                "--host",
                HOST,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        if self.name == "raw_trio":
            return [py, "-m", "benchmarks.apps.raw_trio", "--host", HOST, "--port", str(port)]
        raise ValueError(self.name)


SERVERS = {
    s.name: s
    for s in (
        Server("trio_socketapi", "trio_socketapi", ids=True),
        Server("socketapi", "socketapi 0.2.0 (uvicorn)", ids=False),
        Server("raw_trio", "raw trio-websocket", ids=True),
    )
}

_live: dict[int, subprocess.Popen[bytes]] = {}
"""Every server process started and not yet reaped: ``stop_all`` ends them whatever happens."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on {HOST}:{port} after {timeout:g} s")


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGINT, wait up to ``grace`` seconds, then SIGKILL; always reaps the process."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)
    finally:
        _live.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(_live.values()):
        stop(proc, grace=2.0)


@contextlib.contextmanager
def running(server: Server, log_path: Path, cpu: int | None) -> Iterator[tuple[int, int]]:
    """Start ``server`` on a free port; yield ``(pid, port)``; stop it on the way out."""
    last_error: Exception | None = None
    for _attempt in range(3):  # the port may be taken between choosing and binding it
        port = free_port()
        log = open(log_path, "ab")  # noqa: SIM115 (closed below, after the process)
        log.write(f"\n==== {' '.join(server.command(port))}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            server.command(port),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches us, and we stop it in order
        )
        _live[proc.pid] = proc
        try:
            if cpu is not None:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(proc.pid, {cpu})
            try:
                wait_listening(proc, port, 30)
            except RuntimeError as exc:
                last_error = exc
                continue
            yield proc.pid, port
            return
        finally:
            stop(proc)
            log.close()
    raise RuntimeError(f"{server.name} did not start: {last_error} (see {log_path})")


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    name: str
    args: tuple[str, ...]
    timeout: float
    """Bound on the load generator's whole run, in seconds."""
    ids: bool = False
    """Send ``id``s to servers that echo them."""


def workloads(quick: bool) -> list[Workload]:
    """The workloads of issue 6; ``quick`` shortens the rpc windows and the stall waits, and
    leaves out the 5000-subscriber scaling point (opening 15 000 connections takes time)."""
    warmup, duration = ("0.5", "2") if quick else ("1", "6")
    rpc = ("rpc", "--connections", "50", "--warmup", warmup, "--duration", duration)
    stall = (
        ("--reply-timeout", "2", "--close-wait", "3")
        if quick
        else ("--reply-timeout", "3", "--close-wait", "5")
    )
    chosen = [
        Workload("rpc", (*rpc, "--depth", "1"), 60),
        Workload("rpc_pipelined", (*rpc, "--depth", "16"), 60, ids=True),
        Workload(
            "fanout",
            ("fanout", "--subscribers", "1000", "--messages", "200", "--timeout", "60"),
            150,
        ),
        Workload("idle_mem", ("idle_mem", "--connections", "2000", "--timeout", "60"), 120),
        Workload(
            "slow_consumer",
            (
                "slow_consumer",
                "--subscribers",
                "100",
                "--messages",
                "2000",
                "--size",
                "4096",
                "--timeout",
                "60",
                *stall,
            ),
            150,
        ),
        Workload(
            "fanout_100",
            ("fanout", "--subscribers", "100", "--messages", "200", "--timeout", "60"),
            150,
        ),
    ]
    if not quick:
        chosen.append(
            Workload(
                "fanout_5000",
                ("fanout", "--subscribers", "5000", "--messages", "200", "--timeout", "120"),
                300,
            )
        )
    return chosen


def run_loadgen(
    workload: Workload, server: Server, pid: int, port: int, cpu: int | None
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        *workload.args,
        "--url",
        f"ws://{HOST}:{port}/",
        "--server-pid",
        str(pid),
    ]
    if workload.ids and server.ids:
        command.append("--ids")

    def pin() -> None:
        if cpu is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {cpu})

    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, timeout=workload.timeout, preexec_fn=pin
        )
    except subprocess.TimeoutExpired:
        return {"error": f"load generator exceeded {workload.timeout:g} s"}
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.decode(errors="replace").strip()[-800:]
        return {"error": f"load generator exited {done.returncode}: {tail}"}
    return result


# --------------------------------------------------------------------------- summary


FIGURES: dict[str, list[tuple[str, str, str]]] = {
    # workload: (key, label, format)
    "rpc": [
        ("actions_per_s", "actions/s", ",.0f"),
        ("p50_ms", "p50 ms", ".2f"),
        ("p99_ms", "p99 ms", ".2f"),
        ("actions_per_server_cpu_s", "actions / server CPU-s", ",.0f"),
        ("server_cpu_frac", "server CPU", ".0%"),
        ("client_cpu_frac", "loadgen CPU", ".0%"),
        ("other_cpu_frac", "rest of machine CPU", ".0%"),
    ],
    "fanout": [
        ("deliveries_per_s", "deliveries/s", ",.0f"),
        ("p50_ms", "p50 ms", ".1f"),
        ("p99_ms", "p99 ms", ".1f"),
        ("server_cpu_us_per_delivery", "server CPU us/delivery", ".1f"),
        ("server_cpu_frac", "server CPU", ".0%"),
        ("client_cpu_frac", "loadgen CPU", ".0%"),
        ("helper_cpu_frac", "publisher CPU", ".0%"),
        ("other_cpu_frac", "rest of machine CPU", ".0%"),
    ],
    "idle_mem": [("bytes_per_connection", "bytes/connection", ",.0f")],
    "slow_consumer": [
        ("published", "messages published", ",.0f"),
        ("readers_min_received", "fewest msgs a reader got", ",.0f"),
        ("stalled_closed", "stalled one closed", "yesno"),
        ("stalled_close_code", "close code it read", ".0f"),
        ("rss_growth", "server RSS growth MiB", "mib"),
        ("publish_s", "publishing took s", ".1f"),
    ],
}
FIGURES["rpc_pipelined"] = FIGURES["rpc"]
SCALING_FIGURES = {
    "deliveries_per_s",
    "server_cpu_us_per_delivery",
    "client_cpu_frac",
    "other_cpu_frac",
}
FIGURES["fanout_100"] = FIGURES["fanout_5000"] = [
    figure for figure in FIGURES["fanout"] if figure[0] in SCALING_FIGURES
]
NO_RATIO = {
    "server_cpu_frac",
    "client_cpu_frac",
    "helper_cpu_frac",
    "other_cpu_frac",
    # slow_consumer: yes/no figures, and counts that only mean something next to each other
    "published",
    "readers_min_received",
    "stalled_closed",
    "stalled_close_code",
    "rss_growth",
    "publish_s",
}


def median_of(runs: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    if isinstance(values[0], bool):
        return all(values)  # a yes/no figure holds only if it held in every repetition
    return statistics.median(values)


def summarize(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for workload, by_server in raw.items():
        summary[workload] = {}
        for server, runs in by_server.items():
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
            summary[workload][server] = cell
    return summary


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if spec == "yesno":
        return "yes" if value else "NO"
    if spec == "mib":
        return f"{value / 2**20:.1f}"
    return format(value, spec)


def ratio(summary: dict[str, Any], workload: str, key: str, server: str, base: str) -> float | None:
    try:
        mine = summary[workload][server][key]
        theirs = summary[workload][base][key]
    except KeyError:
        return None
    if mine is None or theirs in (None, 0):
        return None
    return float(mine) / float(theirs)


def table(summary: dict[str, Any], servers: list[str]) -> str:
    width = 24
    head = f"{'workload':<15}{'figure':<26}" + "".join(
        f"{SERVERS[s].name:>{width}}" for s in servers
    )
    lines = [head, "-" * len(head)]
    for workload in summary:
        figures = FIGURES.get(workload, [])
        first = True
        for key, label, spec in figures:
            row = f"{workload if first else '':<15}{label:<26}"
            first = False
            for server in servers:
                cell = summary[workload].get(server)
                value = None if cell is None else cell.get(key)
                text = fmt(value, spec)
                if cell is not None and cell["errors"]:
                    text += "!"
                if (
                    key in RATE_KEYS
                    and cell is not None
                    and (cell.get("client_cpu_frac") or 0) >= CLIENT_BOUND
                ):
                    text += "^"
                r = ratio(summary, workload, key, server, BASELINE)
                if server != BASELINE and key not in NO_RATIO and r is not None:
                    text += f" ({r:.2f}x)"
                row += f"{text:>{width}}"
            lines.append(row)
    lines.append(
        "(x) = ratio to socketapi from the medians of this run; "
        "! = a repetition had an error (listed below);\n"
        f"^ = the load generator used >= {CLIENT_BOUND:.0%} of a CPU: the rate is a lower bound"
    )
    return "\n".join(lines)


RATE_KEYS = {"actions_per_s", "deliveries_per_s"}
CLIENT_BOUND = 0.9
"""Load-generator CPU share from which its rate counts as limited by the client."""
SCALING = (("fanout_100", 100), ("fanout", 1000), ("fanout_5000", 5000))


def scaling_text(summary: dict[str, Any], servers: list[str]) -> str:
    """The scaling row: deliveries/s (server CPU us per delivery) by subscriber count."""
    points = [(w, n) for w, n in SCALING if w in summary]
    if len(points) < 2:
        return ""
    lines = [
        "scaling: fanout deliveries/s (server CPU us per delivery) at "
        + " / ".join(str(n) for _, n in points)
        + " subscribers"
    ]
    for server in servers:
        cells = []
        for workload, _ in points:
            cell = summary[workload].get(server) or {}
            cells.append(
                f"{fmt(cell.get('deliveries_per_s'), ',.0f')} "
                f"({fmt(cell.get('server_cpu_us_per_delivery'), '.1f')})"
            )
        lines.append(f"  {server:<16}" + " / ".join(cells))
    return "\n".join(lines)


@dataclass
class Target:
    text: str
    measured: str
    met: bool | None


def outbox_bound(summary: dict[str, Any]) -> tuple[int | None, str]:
    """RSS growth allowed on slow_consumer: one full outbox of the stalled client, plus slack."""
    try:
        from trio_socketapi import Settings

        outbox = Settings().outbox_size
    except Exception:
        return None, "trio_socketapi.Settings not importable"
    cell = summary.get("slow_consumer", {}).get("trio_socketapi", {})
    frame = cell.get("frame_bytes") or 4200
    bound = int(outbox * frame + SLOW_CONSUMER_SLACK)
    return bound, (
        f"outbox {outbox} x {frame} B + {SLOW_CONSUMER_SLACK / 2**20:.0f} MiB slack"
        f" = {bound / 2**20:.1f} MiB"
    )


SLOW_CONSUMER_SLACK = 4 * 2**20
"""Allowance over one full outbox for allocator and buffer noise (the stalled client's 2000
messages are ~8 MiB: a server that queues them without bound exceeds the bound)."""


def targets(summary: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    me = "trio_socketapi"

    def ratio_target(
        text: str, workload: str, key: str, base: str, limit: float, at_least: bool
    ) -> None:
        r = ratio(summary, workload, key, me, base)
        if r is None:
            found.append(Target(text, "-", None))
        else:
            found.append(Target(text, f"{r:.2f}x", r >= limit if at_least else r <= limit))

    ratio_target("rpc actions/s >= 4 x socketapi", "rpc", "actions_per_s", BASELINE, 4, True)
    ratio_target(
        "rpc actions/s >= 0.85 x raw trio-websocket", "rpc", "actions_per_s", "raw_trio", 0.85, True
    )
    ratio_target("rpc p99 latency <= 0.3 x socketapi", "rpc", "p99_ms", BASELINE, 0.3, False)
    ratio_target(
        "fanout deliveries/s >= 2.5 x socketapi", "fanout", "deliveries_per_s", BASELINE, 2.5, True
    )
    ratio_target(
        "idle_mem bytes/connection <= 0.9 x socketapi",
        "idle_mem",
        "bytes_per_connection",
        BASELINE,
        0.9,
        False,
    )
    cell = summary.get("slow_consumer", {}).get(me)
    if cell is None:
        found.append(Target("slow_consumer", "-", None))
    else:
        bound, how = outbox_bound(summary)
        got_all = bool(cell.get("all_readers_got_all")) and not cell["errors"]
        closed = bool(cell.get("stalled_closed"))
        growth = cell.get("rss_growth")
        bounded = bound is not None and growth is not None and growth <= bound
        found.append(
            Target(
                f"slow_consumer: every reader gets all {cell.get('messages', 2000):.0f}",
                f"fewest {fmt(cell.get('readers_min_received'), ',.0f')}",
                got_all,
            )
        )
        found.append(
            Target(
                "slow_consumer: the stalled one is closed",
                "closed" if closed else "not closed",
                closed,
            )
        )
        found.append(
            Target(f"slow_consumer: RSS growth <= {how}", f"{fmt(growth, 'mib')} MiB", bounded)
        )
    return found


def targets_text(found: list[Target]) -> str:
    width = max(len(t.text) for t in found) + 2
    lines = [f"{'target (trio_socketapi)':<{width}}{'measured':>12}  status", "-" * (width + 22)]
    for t in found:
        status = "n/a" if t.met is None else ("met" if t.met else "NOT MET")
        lines.append(f"{t.text:<{width}}{t.measured:>12}  {status}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- environment


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "trio_socketapi",
        "trio",
        "trio-websocket",
        "wsproto",
        "pydantic",
        "pydantic-core",
        "socketapi",
        "starlette",
        "uvicorn",
        "websockets",
        "uvloop",
        "httptools",
        "picows",
        "matplotlib",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def git_revision() -> str | None:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "trio_socketapi"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty.strip() else "")) or None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------- main


@dataclass
class Plan:
    reps: int
    servers: list[str]
    workloads: list[Workload]
    quick: bool
    pin: tuple[int, int] | None
    notes: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="trio_socketapi benchmark suite")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one repetition, 0.5 + 2 s rpc windows, no 5000-subscriber point",
    )
    parser.add_argument("--reps", type=int, help="repetitions (default 3, 1 with --quick)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated subset of: " + ", ".join(SERVERS),
    )
    parser.add_argument("--workloads", default=None, help="comma-separated subset (default: all)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server and the load generator to separate CPUs "
        "(steadier on a quiet machine; worse when other work shares it)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=None,
        help="where to write the chart (default: benchmarks/results.png after a complete full "
        "run, else benchmarks/results/results-{quick,full}.png)",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            raise SystemExit(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    chosen = workloads(args.quick)
    if args.workloads:
        wanted = {w.strip() for w in args.workloads.split(",")}
        unknown = wanted - {w.name for w in chosen}
        if unknown:
            raise SystemExit(f"unknown workload(s) {sorted(unknown)}")
        chosen = [w for w in chosen if w.name in wanted]
    reps = args.reps or (1 if args.quick else 3)
    pin = None
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2:
        pin = (cpus[-1], cpus[0])  # (server, load generator)
    plan = Plan(reps, servers, chosen, args.quick, pin)
    needed = 5000 + 512
    if raise_fd_limit(needed) < needed:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        plan.notes.append(f"open-files limit {soft} < {needed}: fanout_5000 skipped")
        plan.workloads = [w for w in plan.workloads if w.name != "fanout_5000"]
    return plan


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = RESULTS / f"servers-{stamp}.log"
    # SIGTERM (e.g. from nox or CI) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        w.name: {s: [] for s in plan.servers} for w in plan.workloads
    }
    started = time.monotonic()
    interrupted = False
    env = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "pinning": None if plan.pin is None else {"server": plan.pin[0], "loadgen": plan.pin[1]},
        "versions": versions(),
        "revision": git_revision(),
        "mode": "quick" if plan.quick else "full",
        "reps": plan.reps,
    }
    print(
        f"benchmark ({env['mode']}, {plan.reps} repetition(s)) on {env['cpu']}, "
        f"{env['cpus']} CPUs, Python {env['python']}",
        flush=True,
    )
    if plan.pin:
        print(f"server pinned to CPU {plan.pin[0]}, load generator to CPU {plan.pin[1]}")
    for note in plan.notes:
        print("note:", note)
    try:
        for rep in range(plan.reps):
            for workload in plan.workloads:
                for name in plan.servers:
                    server = SERVERS[name]
                    t0 = time.monotonic()
                    try:
                        with running(server, log_path, plan.pin[0] if plan.pin else None) as (
                            pid,
                            port,
                        ):
                            result = run_loadgen(
                                workload, server, pid, port, plan.pin[1] if plan.pin else None
                            )
                    except RuntimeError as exc:
                        result = {"error": str(exc)}
                    result["rep"] = rep
                    raw[workload.name][name].append(result)
                    print(
                        f"  rep {rep + 1}/{plan.reps}  {workload.name:<14} {name:<15} "
                        f"{progress_line(workload.name, result)}  "
                        f"[{time.monotonic() - t0:.1f} s]",
                        flush=True,
                    )
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: reporting what was measured", file=sys.stderr)
    finally:
        stop_all()
    env["elapsed_s"] = round(time.monotonic() - started, 1)
    summary = summarize(raw)
    found = targets(summary)
    report = "\n".join(
        [
            "",
            f"medians of {plan.reps} interleaved repetition(s), {env['date']}, "
            f"revision {env['revision']}",
            table(summary, plan.servers),
            "",
            scaling_text(summary, plan.servers),
            "",
            targets_text(found),
        ]
    )
    errors = [
        f"  {w} / {s}: {e}"
        for w, cells in summary.items()
        for s, c in cells.items()
        for e in c["errors"]
    ]
    if errors:
        report += "\n\nerrors:\n" + "\n".join(errors)
    outcomes = [
        f"  {w} / {s}: {o}"
        for w, cells in summary.items()
        for s, c in cells.items()
        for o in c["outcomes"]
    ]
    if outcomes:
        report += "\n\nhow runs ended early (an outcome, not a harness error):\n" + "\n".join(
            outcomes
        )
    if plan.notes:
        report += "\n\nnotes:\n" + "\n".join(f"  {n}" for n in plan.notes)
    print(report, flush=True)
    out = RESULTS / f"bench-{stamp}{'-quick' if plan.quick else ''}.json"
    document = {
        "environment": env,
        "plan": {
            "servers": plan.servers,
            "workloads": [w.__dict__ for w in plan.workloads],
            "notes": plan.notes,
        },
        "summary": summary,
        "targets": [t.__dict__ for t in found],
        "runs": raw,
        "report": report,
    }
    out.write_text(json.dumps(document, indent=1, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=1, default=str))
    complete = (
        not interrupted
        and not plan.quick
        and plan.reps >= 3
        and plan.servers == list(SERVERS)
        and [w.name for w in plan.workloads] == [w.name for w in workloads(False)]
    )
    # Only a complete full run replaces the committed chart.
    default_chart = HERE / "results.png" if complete else RESULTS / f"results-{env['mode']}.png"
    chart = args.chart or default_chart
    try:
        from benchmarks.plot import make_chart

        make_chart(document, chart)
        print(
            f"\nresults: {out.relative_to(ROOT)}; chart: {chart}; server logs: "
            f"{log_path.relative_to(ROOT)}; took {env['elapsed_s']:.0f} s"
        )
    except Exception as exc:  # the table and JSON matter more than the picture
        print(f"\nresults: {out.relative_to(ROOT)}; chart failed: {exc}", file=sys.stderr)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def progress_line(workload: str, r: dict[str, Any]) -> str:
    if r.get("error") and not any(
        k in r for k in ("actions_per_s", "deliveries_per_s", "bytes_per_connection", "rss_growth")
    ):
        return f"ERROR {r['error'][:150]}"
    if workload.startswith("rpc"):
        text = (
            f"{r['actions_per_s']:>9,.0f} actions/s  p99 {fmt(r['p99_ms'], '.2f')} ms  "
            f"server {r['server_cpu_frac']:.0%} loadgen {r['client_cpu_frac']:.0%} "
            f"other {r.get('other_cpu_frac', 0):.0%}"
        )
        if r.get("errors"):
            text += f"  {r['errors']} bad replies"
        return text
    if workload.startswith("fanout"):
        return (
            f"{fmt(r['deliveries_per_s'], ',.0f'):>9} deliveries/s  "
            f"p99 {fmt(r['p99_ms'], '.1f')} ms  server {r['server_cpu_frac']:.0%} "
            f"loadgen {r['client_cpu_frac']:.0%} other {r.get('other_cpu_frac', 0):.0%}"
            + (f"  {r['error']}" if r.get("error") else "")
        )
    if workload == "idle_mem":
        return f"{r['bytes_per_connection']:>9,.0f} bytes/connection"
    if workload == "slow_consumer":
        return (
            f"readers got {r['readers_min_received']}..{r['readers_max_received']} of "
            f"{r['messages']}, stalled closed: {r['stalled_closed']} "
            f"(code {r['stalled_close_code']}), RSS +{r['rss_growth'] / 2**20:.1f} MiB"
            + (f"  {r['outcome']}" if r.get("outcome") else "")
            + (f"  ERROR {r['error']}" if r.get("error") else "")
        )
    return json.dumps(r)[:150]


if __name__ == "__main__":
    sys.exit(main())
