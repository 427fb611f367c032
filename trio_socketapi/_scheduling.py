"""First woken, first run: trio's scheduler made FIFO for a process the server owns.

trio runs each batch of runnable tasks in an order it picks at random: it pops tasks off the
end of the batch (last woken, first run) and reverses the batch first half of the time. trio
does this on purpose. Code must not rely on the order in which woken tasks run, and the
randomness catches code that does. For a server it costs tail latency. Each connection's task
is woken in the order its client's bytes arrived, but one batch in two runs them newest first.
Under load, a request that arrives early in one batch can then wait nearly two batches instead
of one. On the rpc benchmark (50 clients, one request in flight each) that took p99 from 3.9 to
6.0 ms at the same throughput (docs/performance.md).

``fifo_scheduling`` makes trio reverse every batch, so tasks run in the order they were woken.
trio already picks that order for half of all batches, so no correct program can tell the
difference. It changes one private name, ``trio._core._run._r``, the random source trio draws
the coin from. This module is the only place that touches it. It does so only on the trio
versions the tests check (``TESTED_TRIO``); on any other version it leaves trio as it is. It
also stands aside when trio's scheduling has been made deterministic, as importing Hypothesis
does: trio then orders each batch by a seeded shuffle, which is what such a test run wants.
``SocketAPI.run`` and ``python -m trio_socketapi`` apply it because they own the event loop.
Under your own ``trio.run`` nothing changes unless you apply it yourself.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from typing import Final

import trio

logger = logging.getLogger("trio_socketapi")

TESTED_TRIO: Final = ((0, 25), (0, 36))
"""The trio versions (from, up to but not including) whose scheduler this module was tested on."""


class _ReverseEveryBatch:
    """trio's random source, except that the batch-reversing coin always comes up "reverse"."""

    def __init__(self, original: random.Random) -> None:
        self._original = original

    def random(self) -> float:
        """Below 0.5, so trio reverses the batch; it then pops tasks in the order they woke."""
        return 0.0

    def __getattr__(self, name: str) -> object:
        # trio also draws its clock offset (uniform) and test shuffles from it: those stay random.
        return getattr(self._original, name)


def _trio_version() -> tuple[int, int]:
    major, minor = trio.__version__.split(".")[:2]
    return int(major), int(minor)


def fifo_supported() -> bool:
    """Whether ``fifo_scheduling`` can take effect: a tested trio, not made deterministic."""
    try:
        version = _trio_version()
    except ValueError:
        return False
    low, high = TESTED_TRIO
    run_module = getattr(trio._core, "_run", None)
    source = getattr(run_module, "_r", None)
    return (
        low <= version < high
        and isinstance(source, (random.Random, _ReverseEveryBatch))
        and getattr(run_module, "_ALLOW_DETERMINISTIC_SCHEDULING", None) is False
    )


@contextlib.contextmanager
def fifo_scheduling() -> Iterator[bool]:
    """Within this block, trio runs woken tasks in the order they were woken.

    Enter it before ``trio.run``. It yields whether it took effect (False on an untested trio,
    where trio's own order stays), and restores trio's random order on exit.
    """
    if not fifo_supported():
        logger.debug("trio %s: keeping trio's own scheduling order", trio.__version__)
        yield False
        return
    run_module = trio._core._run
    original = run_module._r
    if isinstance(original, _ReverseEveryBatch):  # already applied further out
        yield True
        return
    run_module._r = _ReverseEveryBatch(original)  # type: ignore[assignment]
    try:
        yield True
    finally:
        run_module._r = original
