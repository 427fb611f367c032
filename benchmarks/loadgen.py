"""The load generator: one asyncio process (uvloop when installed) driving picows clients.

    python -m benchmarks.loadgen WORKLOAD --url ws://127.0.0.1:P/ --server-pid PID [options]

WORKLOAD is one of ``rpc``, ``fanout``, ``idle_mem``, ``slow_consumer`` (``rpc_pipelined`` is
``rpc --depth 16``); ``publisher`` is the fan-out publisher, which ``fanout`` starts as a process
of its own. The result is one JSON object, printed as the last line of stdout. Every wait is
bounded: a server that stalls or dies gives a result with ``"error"`` or partial counts,
never a hang. The server's CPU (``utime + stime`` from ``/proc/PID/stat``) and RSS (``VmRSS`` from
``/proc/PID/status``) are read here, at the edges of the measured window, next to this process's
own CPU time, so a saturated load generator shows in the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks.dialects import DIALECTS, SocketAPI
from benchmarks.fdlimit import raise_fd_limit

perf = time.perf_counter
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONNECT_CONCURRENCY = 64
"""Handshakes (and subscribes) in flight at once while opening many connections."""
DIALECT: SocketAPI = DIALECTS["socketapi"]
"""How messages are written for the server under test (``--dialect``)."""


# --------------------------------------------------------------------------- process figures


def _stat(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        # After the command name: state is field 3, so ppid (4) is at 1, utime (14) and
        # stime (15) at 11 and 12.
        return f.read().rsplit(b")", 1)[1].split()


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (a ``--workers`` supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(_stat(int(entry))[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo and len(found) < 1000:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants."""
    total = 0
    for p in family(pid):
        with contextlib.suppress(OSError):
            fields = _stat(p)
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def proc_rss(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs, from ``/proc/stat``)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class Window:
    """Wall time, server CPU, this process's CPU and everyone else's, between ``__init__`` and
    ``stop``. ``helpers`` are other load-generator processes (the fan-out publisher): their CPU
    is reported on its own. "Other" is the rest of the machine (other processes, and kernel work
    not charged to any of these): when it is high the figures are disturbed."""

    def __init__(self, pid: int, helpers: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.helpers = helpers
        self.wall0 = perf()
        self.server0 = proc_cpu(pid)
        self.client0 = time.process_time()
        self.helpers0 = sum(proc_cpu(h) for h in helpers)
        self.machine0 = machine_busy()

    def stop(self) -> dict[str, float]:
        wall = perf() - self.wall0
        server = proc_cpu(self.pid) - self.server0
        client = time.process_time() - self.client0
        helpers = sum(proc_cpu(h) for h in self.helpers) - self.helpers0
        other = max(0.0, machine_busy() - self.machine0 - server - client - helpers)
        return {
            "wall_s": wall,
            "server_cpu_s": server,
            "client_cpu_s": client,
            "helper_cpu_s": helpers,
            "server_cpu_frac": server / wall if wall > 0 else 0.0,
            "client_cpu_frac": client / wall if wall > 0 else 0.0,
            "helper_cpu_frac": helpers / wall if wall > 0 else 0.0,
            "other_cpu_frac": other / wall if wall > 0 else 0.0,
        }


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50 and p99 of latencies in seconds, reported in milliseconds."""
    if not samples:
        return {"p50_ms": None, "p99_ms": None}
    if len(samples) == 1:
        return {"p50_ms": samples[0] * 1e3, "p99_ms": samples[0] * 1e3}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3}


# --------------------------------------------------------------------------- clients


class Client(WSListener):  # type: ignore[misc]
    """A picows connection; text frames go to ``on_text``, a close frame is answered."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.close_code: int | None = None
        loop = asyncio.get_running_loop()
        self.gone = loop.create_future()
        self.ready = loop.create_future()
        self.is_ready = False
        self.next_ack = 1_000_000  # request ids apart from the rpc workload's own
        self._waiter: asyncio.Future[bytes] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if not DIALECT.connects:
            self.is_ready = True
            self.ready.set_result(None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if DIALECT.MESSAGE is None or (
                self.is_ready and frame.get_payload_as_memoryview()[0] == DIALECT.MESSAGE
            ):
                self.on_text(frame)
            else:
                self.on_control(frame.get_payload_as_bytes())
        elif kind is WSMsgType.CLOSE:
            self.close_code = int(frame.get_close_code().value)
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.gone.done():
            self.gone.set_result(None)

    def on_control(self, raw: bytes) -> None:
        answer, ready = DIALECT.control(raw)
        if answer is not None:
            self.send(answer)
        if ready and not self.ready.done():
            self.is_ready = True
            self.ready.set_result(None)

    def ack_id(self) -> int:
        self.next_ack += 1
        return self.next_ack

    def on_text(self, frame: WSFrame) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(frame.get_payload_as_bytes())

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, payload)

    async def request(self, payload: bytes, timeout: float) -> bytes:
        """Send one message and wait for the next reply frame (one request at a time)."""
        self._waiter = asyncio.get_running_loop().create_future()
        self.send(payload)
        return await asyncio.wait_for(self._waiter, timeout)

    async def subscribe(self, timeout: float = 10.0) -> None:
        reply = await self.request(DIALECT.subscribe(self.ack_id()), timeout)
        if not DIALECT.subscribed(reply):
            raise RuntimeError(f"subscribe failed: {reply[:200]!r}")

    def close(self) -> None:
        if self.transport is not None and not self.gone.done():
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()


async def open_clients(
    url: str, factories: list[Callable[[], Client]], *, subscribe: bool, timeout: float
) -> list[Client]:
    """Open one connection per factory, ``CONNECT_CONCURRENCY`` at a time, within ``timeout``."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(factory: Callable[[], Client]) -> Client:
        async with gate:
            _, client = await ws_connect(
                factory, url, websocket_handshake_timeout=10, max_frame_size=16 * 1024 * 1024
            )
            await asyncio.wait_for(asyncio.shield(client.ready), 10)
            if subscribe:
                await client.subscribe()
            return client  # type: ignore[no-any-return]

    tasks = [asyncio.ensure_future(one(f)) for f in factories]
    try:
        return await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    except BaseException:
        for task in tasks:
            task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
        raise


async def open_subscribers(url: str, run: FanoutRun, count: int, *, timeout: float) -> list[Client]:
    """Open ``count`` connections counting data frames into ``run``, each subscribed to ``tick``."""
    return await open_clients(
        url, [lambda: Subscriber(run) for _ in range(count)], subscribe=True, timeout=timeout
    )


async def close_all(clients: list[Client], timeout: float = 3.0) -> None:
    for client in clients:
        client.close()
    pending = [c.gone for c in clients if not c.gone.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


# --------------------------------------------------------------------------- rpc


class RpcRun:
    def __init__(self, depth: int, use_ids: bool, connections: int) -> None:
        self.depth = depth
        self.use_ids = use_ids
        self.connections = connections
        self.completed = 0
        self.errors = 0
        self.first_error: str | None = None
        self.measuring = False
        self.latencies: list[float] = []
        self.stopping = False
        self.drained = 0
        self.all_drained = asyncio.get_running_loop().create_future()

    def error(self, text: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = text[:300]


class RpcClient(Client):
    """Keeps ``depth`` ``add`` actions in flight: each reply sends the next request."""

    CHECK_EVERY = 16
    """Without ids, one reply in this many is parsed and checked (the rest are counted)."""

    def __init__(self, run: RpcRun, index: int) -> None:
        super().__init__()
        self.run = run
        self.index = index
        self.next_n = 0
        self.received = 0
        self.by_id: dict[int, tuple[float, int]] = {}
        self.in_order: deque[tuple[float, int]] = deque()

    def start(self) -> None:
        for _ in range(self.run.depth):
            self.send_next()

    def send_next(self) -> None:
        n = self.next_n
        self.next_n = n + 1
        a = self.index + 1  # never 0: socketapi drops a falsy result from its reply
        payload = DIALECT.add(n, a, n, self.run.use_ids)
        if self.run.use_ids:
            self.by_id[n] = (perf(), a + n)
        else:
            self.in_order.append((perf(), a + n))
        self.send(payload)

    def on_text(self, frame: WSFrame) -> None:
        now = perf()
        run = self.run
        self.received += 1
        try:
            checked = None
            if run.use_ids:
                raw = frame.get_payload_as_bytes()
                checked = DIALECT.reply(raw)
                sent, expected = self.by_id.pop(checked[0])
            else:
                sent, expected = self.in_order.popleft()
                if self.received % self.CHECK_EVERY == 1:
                    raw = frame.get_payload_as_bytes()
                    checked = DIALECT.reply(raw)
            if checked is not None and (not checked[1] or checked[2] != expected):
                run.error(raw.decode(errors="replace"))
        except Exception as exc:  # a reply we cannot match: count it, keep the load going
            run.error(f"{type(exc).__name__}: {exc}")
            return
        run.completed += 1
        if run.measuring:
            run.latencies.append(now - sent)
        if not run.stopping:
            self.send_next()
        elif not self.by_id and not self.in_order:
            run.drained += 1
            if run.drained == run.connections and not run.all_drained.done():
                run.all_drained.set_result(None)


async def workload_rpc(args: argparse.Namespace) -> dict[str, Any]:
    run = RpcRun(args.depth, args.ids, args.connections)
    clients = await open_clients(
        args.url,
        [lambda i=i: RpcClient(run, i) for i in range(args.connections)],
        subscribe=False,
        timeout=30,
    )
    try:
        for client in clients:
            client.start()  # type: ignore[attr-defined]
        await asyncio.sleep(args.warmup)
        window = Window(args.server_pid)
        completed0 = run.completed
        run.measuring = True
        await asyncio.sleep(args.duration)
        run.measuring = False
        completed = run.completed - completed0
        figures = window.stop()
        run.stopping = True
        # Clients whose last reply came before ``stopping`` have nothing in flight already.
        for client in clients:
            rc: RpcClient = client  # type: ignore[assignment]
            if not rc.by_id and not rc.in_order:
                run.drained += 1
        if run.drained >= run.connections:
            run.all_drained.set_result(None)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(run.all_drained), 10)
    finally:
        await close_all(clients)
    return {
        "connections": args.connections,
        "depth": args.depth,
        "ids": args.ids,
        "actions": completed,
        "actions_per_s": completed / figures["wall_s"],
        "actions_per_server_cpu_s": completed / figures["server_cpu_s"]
        if figures["server_cpu_s"] > 0
        else None,
        **percentiles(run.latencies),
        **figures,
        "errors": run.errors,
        "first_error": run.first_error,
        "drained": run.all_drained.done(),
    }


# --------------------------------------------------------------------------- fan-out


class FanoutRun:
    """Shared state of one broadcast run: delivery counts, and when each count is reached."""

    def __init__(self, subscribers: int) -> None:
        self.last_delivery = 0.0
        self.deliveries = 0
        self.target = 0
        """Per-subscriber count at which ``reached`` is set (moved by the driver)."""
        self.expected = subscribers
        self.at_target = 0
        self.reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bad = 0
        self.first_bad: str | None = None

    def aim(self, target: int, expected_subscribers: int) -> asyncio.Future[None]:
        self.target = target
        self.expected = expected_subscribers
        self.at_target = 0
        self.reached = asyncio.get_running_loop().create_future()
        return self.reached


class Subscriber(Client):
    """Counts data frames; the n-th frame is message n (the server keeps per-connection order).

    Each frame's receive time is kept (``received_at[n]``), so latency is worked out after the
    run from the publisher's send times. One frame in ``CHECK_EVERY`` is parsed to check that its
    ``seq`` is the one expected, which is what makes the cheap counting trustworthy.
    """

    CHECK_EVERY = 10

    def __init__(self, run: FanoutRun) -> None:
        super().__init__()
        self.run = run
        self.count = 0
        self.received_at: list[float] = []
        self.subscribed = False

    async def subscribe(self, timeout: float = 10.0) -> None:
        await super().subscribe(timeout)
        self.subscribed = True

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # The hot path of the load generator: one call per delivery, kept short.
        if (
            self.subscribed
            and frame.msg_type is WSMsgType.TEXT
            and (DIALECT.MESSAGE is None or frame.get_payload_as_memoryview()[0] == DIALECT.MESSAGE)
        ):
            self.on_data(frame)
        else:
            super().on_ws_frame(transport, frame)

    def on_text(self, frame: WSFrame) -> None:
        if self.subscribed:
            self.on_data(frame)
        else:
            super().on_text(frame)

    def on_data(self, frame: WSFrame) -> None:
        now = perf()
        run = self.run
        seq = self.count
        self.count = seq + 1
        self.received_at.append(now)
        run.deliveries += 1
        run.last_delivery = now
        if seq % self.CHECK_EVERY == 0:
            raw = frame.get_payload_as_bytes()
            try:
                ok = DIALECT.data_seq(raw) == seq
            except Exception:
                ok = False
            if not ok:
                run.bad += 1
                if run.first_bad is None:
                    run.first_bad = raw[:200].decode(errors="replace")
        if self.count == run.target:
            run.at_target += 1
            if run.at_target == run.expected and not run.reached.done():
                run.reached.set_result(None)


def delivery_latencies(
    subscribers: list[Client], send_times: list[float], first_seq: int
) -> list[float]:
    """Receive time minus send time of every delivery of messages ``first_seq`` onwards."""
    latencies: list[float] = []
    for subscriber in subscribers:
        received_at = subscriber.received_at  # type: ignore[attr-defined]
        for seq in range(first_seq, min(len(received_at), len(send_times))):
            latencies.append(received_at[seq] - send_times[seq])
    return latencies


def publish_payload(client: Client, seq: int, pad: str) -> bytes:
    return DIALECT.publish(client.ack_id(), {"seq": seq, "ts": perf(), "pad": pad})


async def publish_batch(
    publisher: Client,
    first_seq: int,
    count: int,
    *,
    pad: str = "",
    deadline: float,
    reply_timeout: float = 10.0,
) -> tuple[list[float], str | None]:
    """Publish messages ``first_seq`` .. ``first_seq + count - 1``, awaiting each reply.

    Returns the send times of the publishes that were answered, and why publishing stopped
    early (``None`` when it did not).
    """
    send_times: list[float] = []
    for seq in range(first_seq, first_seq + count):
        remaining = deadline - perf()
        if remaining <= 0:
            return send_times, "publishing timed out"
        sent_at = perf()
        timeout = min(remaining, reply_timeout)
        try:
            reply = await publisher.request(publish_payload(publisher, seq, pad), timeout)
        except asyncio.TimeoutError:
            return send_times, f"broadcast blocked: no reply to publish #{seq} in {timeout:g} s"
        if not DIALECT.reply(reply)[1]:
            return send_times, f"publish failed: {reply[:200]!r}"
        send_times.append(sent_at)
    return send_times, None


async def workload_publisher(args: argparse.Namespace) -> dict[str, Any]:
    """The fan-out publisher, run by ``fanout`` as a process of its own.

    Its replies then never wait behind the subscribers' frames in one event loop, so it publishes
    as a separate client would. Driven over stdin: each line ``FIRST COUNT`` publishes that batch
    and answers with one JSON line of send times (``time.perf_counter`` is the machine's monotonic
    clock, so they compare with the subscribers' receive times). Ends when stdin closes.
    """
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    (publisher,) = await open_clients(args.url, [Client], subscribe=False, timeout=10)
    try:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while line := await commands.readline():
            first, count = (int(x) for x in line.split())
            send_times, error = await publish_batch(
                publisher, first, count, deadline=perf() + args.timeout
            )
            sys.stdout.write(json.dumps({"send_times": send_times, "error": error}) + "\n")
            sys.stdout.flush()
    finally:
        await close_all([publisher])
    return {}


class PublisherProcess:
    """The ``publisher`` workload in a child process, and the line protocol to drive it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, args: argparse.Namespace) -> PublisherProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            "publisher",
            "--url",
            args.url,
            "--server-pid",
            str(args.server_pid),
            "--timeout",
            str(args.timeout),
            "--dialect",
            DIALECT.name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self = cls(process)
        try:
            line = await self._line(15)
        except BaseException:
            await self.stop()
            raise
        if line.strip() != b"ready":
            await self.stop()
            raise RuntimeError(f"publisher did not start: {line[:200]!r}")
        return self

    async def publish(self, first_seq: int, count: int, timeout: float) -> dict[str, Any]:
        """Publish one batch; its send times and error (a dead or silent child is an error)."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"%d %d\n" % (first_seq, count))
        await self.process.stdin.drain()
        try:
            line = await self._line(timeout)
            return json.loads(line)  # type: ignore[no-any-return]
        except (asyncio.TimeoutError, ValueError) as exc:
            return {"send_times": [], "error": f"publisher process: {type(exc).__name__}"}

    async def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except asyncio.TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def _line(self, timeout: float) -> bytes:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("publisher process exited")
        return line


async def workload_fanout(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(args.subscribers + 256)
    run = FanoutRun(args.subscribers)
    subscribers = await open_subscribers(args.url, run, args.subscribers, timeout=args.timeout)
    publisher: PublisherProcess | None = None
    try:
        publisher = await PublisherProcess.start(args)
        # Warm-up: a few broadcasts everyone must receive before the measured ones.
        warmup = args.warmup_messages
        if warmup:
            warmed = run.aim(warmup, args.subscribers)
            batch = await publisher.publish(0, warmup, 15)
            if batch["error"]:
                raise RuntimeError(f"warm-up: {batch['error']}")
            await asyncio.wait_for(warmed, 10)
        total = warmup + args.messages
        reached = run.aim(total, args.subscribers)
        deliveries0 = run.deliveries
        window = Window(args.server_pid, helpers=(publisher.process.pid,))
        batch = await publisher.publish(warmup, args.messages, args.timeout + 5)
        send_times: list[float] = batch["send_times"]
        error: str | None = batch["error"]
        if error is None:
            remaining = send_times[0] + args.timeout - perf()
            try:
                await asyncio.wait_for(reached, max(0.1, remaining))
            except asyncio.TimeoutError:
                error = "not every subscriber got every message in time"
        figures = window.stop()
        deliveries = run.deliveries - deliveries0
        span = run.last_delivery - send_times[0] if send_times else 0.0
        latencies = delivery_latencies(subscribers, [0.0] * warmup + send_times, warmup)
    finally:
        if publisher is not None:
            await publisher.stop()
        await close_all(subscribers)
    expected = args.subscribers * args.messages
    return {
        "subscribers": args.subscribers,
        "messages": args.messages,
        "published": len(send_times),
        "deliveries": deliveries,
        "expected_deliveries": expected,
        "complete": deliveries == expected,
        "span_s": span,
        "deliveries_per_s": deliveries / span if span > 0 else None,
        "server_cpu_us_per_delivery": figures["server_cpu_s"] / deliveries * 1e6
        if deliveries
        else None,
        **percentiles(latencies),
        **figures,
        "bad_frames": run.bad,
        "first_bad": run.first_bad,
        "error": error,
    }


# --------------------------------------------------------------------------- idle memory


async def settle_rss(pid: int, seconds: float) -> int:
    """The server's RSS after letting it settle for ``seconds`` (last of a few readings)."""
    rss = proc_rss(pid)
    end = perf() + seconds
    while perf() < end:
        await asyncio.sleep(0.25)
        rss = proc_rss(pid)
    return rss


async def warm_up_server(url: str) -> None:
    """One connection that subscribes and calls an action, so lazy imports happen before."""
    (client,) = await open_clients(url, [Client], subscribe=True, timeout=10)
    try:
        await client.request(DIALECT.add(client.ack_id(), 1, 2, False), 10)
        await client.request(DIALECT.unsubscribe(client.ack_id()), 10)
    finally:
        await close_all([client])


async def workload_idle_mem(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(args.connections + 256)
    await warm_up_server(args.url)
    rss0 = await settle_rss(args.server_pid, 1.0)
    run = FanoutRun(args.connections)
    started = perf()
    clients = await open_subscribers(args.url, run, args.connections, timeout=args.timeout)
    try:
        connect_s = perf() - started
        rss1 = await settle_rss(args.server_pid, 1.5)
        alive = sum(1 for c in clients if not c.gone.done())
    finally:
        await close_all(clients)
    return {
        "connections": args.connections,
        "alive": alive,
        "connect_s": connect_s,
        "rss_before": rss0,
        "rss_after": rss1,
        "bytes_per_connection": (rss1 - rss0) / args.connections,
    }


# --------------------------------------------------------------------------- slow consumer


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            peak[0] = max(peak[0], proc_rss(pid))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def workload_slow_consumer(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(args.subscribers + 256)
    await warm_up_server(args.url)
    run = FanoutRun(args.subscribers)
    readers = await open_subscribers(args.url, run, args.subscribers, timeout=args.timeout)
    stalled_run = FanoutRun(1)
    publisher: Client | None = None
    stalled: Subscriber | None = None
    try:
        (stalled,) = await open_clients(  # type: ignore[assignment]
            args.url, [lambda: Subscriber(stalled_run)], subscribe=True, timeout=10
        )
        assert stalled is not None and stalled.transport is not None
        # From here on this client reads nothing: the kernel buffers fill, then the server's.
        stalled.transport.underlying_transport.pause_reading()
        (publisher,) = await open_clients(args.url, [Client], subscribe=False, timeout=10)
        rss0 = await settle_rss(args.server_pid, 0.5)
        peak = [rss0]
        stop_sampling = asyncio.Event()
        sampler = asyncio.ensure_future(sample_rss(args.server_pid, peak, stop_sampling))
        pad = "x" * args.size
        reached = run.aim(args.messages, args.subscribers)
        window = Window(args.server_pid)
        deadline = perf() + args.timeout
        # ``outcome``: how the run ended when not every message reached every reader.
        send_times, outcome = await publish_batch(
            publisher,
            0,
            args.messages,
            pad=pad,
            deadline=deadline,
            reply_timeout=args.reply_timeout,
        )
        published = len(send_times)
        publish_s = perf() - window.wall0
        if outcome is None:
            try:
                await asyncio.wait_for(reached, max(0.5, min(10.0, deadline - perf())))
            except asyncio.TimeoutError:
                outcome = "readers did not all get every message in time"
        figures = window.stop()
        stop_sampling.set()
        await sampler
        rss_end = proc_rss(args.server_pid)
        counts = [r.count for r in readers]  # type: ignore[attr-defined]
        readers_closed = sum(1 for r in readers if r.gone.done())
        # Now read what the stalled client was sent: was it closed, and after how much?
        stalled_gone_before = stalled.gone.done()
        stalled.transport.underlying_transport.resume_reading()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(stalled.gone), args.close_wait)
        stalled_closed = stalled.gone.done()
        stalled_received = stalled.count
    finally:
        stalled_clients = [stalled] if stalled is not None else []
        await close_all(readers + stalled_clients + ([publisher] if publisher else []))
    frame_bytes = len(
        json.dumps({"type": "data", "channel": "tick", "data": {"seq": 0, "ts": 0.0, "pad": pad}})
    )
    return {
        "subscribers": args.subscribers,
        "messages": args.messages,
        "size": args.size,
        "frame_bytes": frame_bytes,
        "published": published,
        "publish_s": publish_s,
        "readers_min_received": min(counts) if counts else 0,
        "readers_max_received": max(counts) if counts else 0,
        "readers_with_all": sum(1 for c in counts if c == args.messages),
        "readers_closed": readers_closed,
        "all_readers_got_all": all(c == args.messages for c in counts),
        "stalled_closed": stalled_closed,
        "stalled_closed_before_resume": stalled_gone_before,
        "stalled_close_code": stalled.close_code,
        "stalled_received": stalled_received,
        "rss_before": rss0,
        "rss_peak": peak[0],
        "rss_end": rss_end,
        "rss_growth": peak[0] - rss0,
        "bad_frames": run.bad,
        "first_bad": run.first_bad,
        **figures,
        "outcome": outcome,
        "error": f"{run.bad} frames out of order or malformed" if run.bad else None,
    }


# --------------------------------------------------------------------------- main


WORKLOADS = {
    "rpc": workload_rpc,
    "fanout": workload_fanout,
    "publisher": workload_publisher,
    "idle_mem": workload_idle_mem,
    "slow_consumer": workload_slow_consumer,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="benchmark load generator (picows)")
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="socketapi")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--depth", type=int, default=1, help="rpc: requests in flight per connection"
    )
    parser.add_argument("--ids", action="store_true", help="rpc: send ids, match replies by id")
    parser.add_argument("--warmup", type=float, default=1.0, help="rpc: warm-up seconds")
    parser.add_argument("--duration", type=float, default=6.0, help="rpc: measured seconds")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--warmup-messages", type=int, default=2)
    parser.add_argument("--size", type=int, default=4096, help="slow_consumer: payload bytes")
    parser.add_argument("--reply-timeout", type=float, default=3.0)
    parser.add_argument("--close-wait", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on each phase")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    return await WORKLOADS[args.workload](args)


def main(argv: list[str] | None = None) -> None:
    global DIALECT
    args = parse_args(argv)
    DIALECT = DIALECTS[args.dialect]
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run
        loop_name = "asyncio"
    try:
        result = runner(amain(args))
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["workload"] = args.workload
    result["client_loop"] = loop_name
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
