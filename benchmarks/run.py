"""Run the benchmark: every workload against every peer, interleaved, and print the report.

    python -m benchmarks.run [--quick] [--reps N] [--peers ...] [--workloads ...]

(``nox -s bench`` builds the environment and runs this; see ``benchmarks/README.md``.)

The pieces, one job each: ``peers/`` (one file per server under test), ``workloads/`` (one
file per kind of load), ``loadgen.py`` (the client process), ``procs.py`` (starting and
stopping processes), ``report.py`` (medians and tables), ``targets.py`` (what is checked),
``plot.py`` (the chart). This module only plans the run, interleaves it (for each repetition,
for each workload, every peer in turn) and saves the results to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import environment, procs, report, targets
from benchmarks.fdlimit import raise_fd_limit
from benchmarks.peers import ALL, COMPARED
from benchmarks.spec import Workload
from benchmarks.workloads import chosen

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


@dataclass
class Plan:
    reps: int
    peers: list[str]
    workloads: list[Workload]
    quick: bool
    pin: tuple[int, int] | None
    pending: dict[str, str] = field(default_factory=dict)
    """Peers asked for that cannot run here, and why."""
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
        "--peers",
        "--servers",
        dest="peers",
        default=",".join(ALL),
        help="comma-separated subset of: " + ", ".join(ALL),
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
    asked = [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in asked:
        if p not in ALL:
            raise SystemExit(f"unknown peer {p!r}; choose from {', '.join(ALL)}")
    workloads = chosen(args.quick)
    if args.workloads:
        wanted = {w.strip() for w in args.workloads.split(",")}
        unknown = wanted - {w.name for w in workloads}
        if unknown:
            raise SystemExit(f"unknown workload(s) {sorted(unknown)}")
        workloads = [w for w in workloads if w.name in wanted]
    pending = {p: why for p in asked if (why := ALL[p].pending()) is not None}
    if any(ALL[p].needs_redis for p in asked) and not _which("redis-server"):
        pending.update({p: "redis-server not found" for p in asked if ALL[p].needs_redis})
    peers = [p for p in asked if p not in pending]
    pin = None
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2:
        pin = (cpus[-1], cpus[0])  # (server, load generator)
    plan = Plan(args.reps or (1 if args.quick else 3), peers, workloads, args.quick, pin, pending)
    needed = 5000 + 512
    if raise_fd_limit(needed) < needed:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        plan.notes.append(f"open-files limit {soft} < {needed}: fanout_5000 skipped")
        plan.workloads = [w for w in plan.workloads if w.name != "fanout_5000"]
    return plan


def _which(name: str) -> bool:
    return shutil.which(name) is not None


Raw = dict[str, dict[str, list[dict[str, Any]]]]
"""workload -> peer -> one result per repetition."""


def measure(plan: Plan, raw: Raw, log_path: Path, redis_url: str | None) -> None:
    """Every repetition of every workload on every peer that runs it, interleaved, into ``raw``
    (so an interrupted run keeps what it measured)."""
    server_cpu, loadgen_cpu = plan.pin if plan.pin else (None, None)
    for rep in range(plan.reps):
        for workload in plan.workloads:
            for name in raw[workload.name]:
                peer = ALL[name]
                t0 = time.monotonic()
                try:
                    with procs.running(peer, log_path, server_cpu, redis_url) as (pid, port):
                        result = procs.run_loadgen(workload, peer, pid, port, loadgen_cpu)
                except RuntimeError as exc:
                    result = {"error": str(exc)}
                result["rep"] = rep
                raw[workload.name][name].append(result)
                print(
                    f"  rep {rep + 1}/{plan.reps}  {workload.name:<14} {name:<15} "
                    f"{report.progress_line(workload, result)}  [{time.monotonic() - t0:.1f} s]",
                    flush=True,
                )


def render(plan: Plan, env: dict[str, Any], summary: report.Summary, found: list[Any]) -> str:
    compared = [p for p in plan.peers if p in COMPARED]
    variants = [p for p in plan.peers if p not in COMPARED]
    sections = [
        f"medians of {plan.reps} interleaved repetition(s), {env['date']}, "
        f"revision {env['revision']}\n" + report.figures_table(summary, plan.workloads, compared),
        report.ratios_table(summary, plan.workloads, compared),
        report.variants_table(summary, plan.workloads, variants),
        report.scaling_text(summary, compared),
        targets.targets_text(found),
        report.listed(summary, "errors", "errors:"),
        report.listed(
            summary, "outcomes", "how runs ended early (an outcome, not a harness error):"
        ),
    ]
    if plan.pending:
        sections.append(
            "pending rows (not run):\n"
            + "\n".join(f"  {p}: {why}" for p, why in plan.pending.items())
        )
    if plan.notes:
        sections.append("notes:\n" + "\n".join(f"  {n}" for n in plan.notes))
    return "\n" + "\n\n".join(s for s in sections if s) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = RESULTS / f"servers-{stamp}.log"
    # SIGTERM (e.g. from nox or CI) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    env = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": environment.cpu_model(),
        "cpus": os.cpu_count(),
        "pinning": None if plan.pin is None else {"server": plan.pin[0], "loadgen": plan.pin[1]},
        "versions": environment.versions(),
        "redis": environment.redis_version(),
        "revision": environment.git_revision(),
        "mode": "quick" if plan.quick else "full",
        "reps": plan.reps,
    }
    print(
        f"benchmark ({env['mode']}, {plan.reps} repetition(s)) on {env['cpu']}, "
        f"{env['cpus']} CPUs, Python {env['python']}; peers: {', '.join(plan.peers)}",
        flush=True,
    )
    if plan.pin:
        print(f"server pinned to CPU {plan.pin[0]}, load generator to CPU {plan.pin[1]}")
    for note in plan.notes:
        print("note:", note)
    raw: Raw = {w.name: {p: [] for p in plan.peers if ALL[p].runs(w.name)} for w in plan.workloads}
    interrupted = False
    try:
        with contextlib.ExitStack() as stack:
            redis_url = None
            if any(ALL[p].needs_redis for p in plan.peers):
                redis_url = stack.enter_context(procs.redis_server(log_path))
            measure(plan, raw, log_path, redis_url)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: reporting what was measured", file=sys.stderr)
    finally:
        procs.stop_all()
    env["elapsed_s"] = round(time.monotonic() - started, 1)
    summary = report.summarize(raw)
    found = targets.evaluate(summary)
    text = render(plan, env, summary, found)
    print(text, flush=True)
    document = {
        "environment": env,
        "plan": {
            "servers": plan.peers,
            "compared": [p for p in plan.peers if p in COMPARED],
            "variants": {p: ALL[p].variant_of for p in plan.peers if p not in COMPARED},
            "workloads": [{"name": w.name, "args": w.args} for w in plan.workloads],
            "pending": plan.pending,
            "notes": plan.notes,
        },
        "summary": summary,
        "targets": [t.__dict__ for t in found],
        "runs": raw,
        "report": text,
    }
    out = RESULTS / f"bench-{stamp}{'-quick' if plan.quick else ''}.json"
    out.write_text(json.dumps(document, indent=1, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=1, default=str))
    complete = (
        not interrupted
        and not plan.quick
        and plan.reps >= 3
        and set(COMPARED) <= set(plan.peers)
        and [w.name for w in plan.workloads] == [w.name for w in chosen(False)]
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


if __name__ == "__main__":
    sys.exit(main())
