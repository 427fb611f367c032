"""Process control: start a peer on a free loopback port, run the load generator, stop both.

Every server process started is tracked until reaped, so ``stop_all`` ends them whatever
happens (errors, Ctrl-C, SIGTERM). A server is stopped with SIGINT, then SIGKILL after a grace
period; its whole process group goes, so a supervisor's workers do not outlive it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.spec import HOST, Endpoint, Peer, Workload

ROOT = Path(__file__).resolve().parent.parent

_live: dict[int, subprocess.Popen[bytes]] = {}


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


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # started with start_new_session: its group is its pid


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGINT, wait up to ``grace`` seconds, then SIGKILL the group; always reaps the process."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        _signal_group(proc, signal.SIGKILL)  # anything the server left behind in its group
    finally:
        _live.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(_live.values()):
        stop(proc, grace=2.0)


def _start(command: list[str], log: Any, env: dict[str, str] | None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C reaches us, and we stop it in order
    )
    _live[proc.pid] = proc
    return proc


@contextlib.contextmanager
def running(
    peer: Peer, log_path: Path, cpu: int | None, redis_url: str | None
) -> Iterator[tuple[int, int]]:
    """Start ``peer`` on a free port; yield ``(pid, port)``; stop it on the way out."""
    assert peer.command is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env.update(peer.env)
    if peer.needs_redis:
        if redis_url is None:
            raise RuntimeError(f"{peer.name} needs Redis, and none is running")
        env["BENCH_REDIS_URL"] = redis_url
    last_error: Exception | None = None
    for _attempt in range(3):  # the port may be taken between choosing and binding it
        port = free_port()
        command = peer.command(Endpoint(port, redis_url))
        with open(log_path, "ab") as log:
            log.write(f"\n==== {' '.join(command)}\n".encode())
            log.flush()
            proc = _start(command, log, env)
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
    raise RuntimeError(f"{peer.name} did not start: {last_error} (see {log_path})")


@contextlib.contextmanager
def redis_server(log_path: Path) -> Iterator[str]:
    """One ``redis-server`` on a free loopback port for the whole run (no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    with open(log_path, "ab") as log:
        log.write(f"\n==== {' '.join(command)}\n".encode())
        log.flush()
        proc = _start(command, log, None)
    try:
        wait_listening(proc, port, 15)
        yield f"redis://{HOST}:{port}/0"
    finally:
        stop(proc)


def run_loadgen(
    workload: Workload, peer: Peer, pid: int, port: int, cpu: int | None
) -> dict[str, Any]:
    """Run one load-generator process against the peer; its JSON result (or an ``error``)."""
    command = [sys.executable, "-m", "benchmarks.loadgen", *workload.args]
    command += ["--url", f"ws://{HOST}:{port}{peer.path}", "--server-pid", str(pid)]
    command += ["--dialect", peer.dialect]
    if workload.ids and peer.ids:
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
