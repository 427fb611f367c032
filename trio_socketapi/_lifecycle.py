"""What runs around a server for as long as it serves: the broker subscription, the app's
lifespans, its background tasks and the keepalive sweep, and the order they stop in.

Starting: the broker first (so a lifespan or background task can broadcast), then the
lifespans in registration order, then the background tasks, then the caller's block (which
accepts connections). Stopping, whether the block ended, failed or was cancelled: the
background tasks are cancelled, every connection is closed with 1001, then the lifespans'
teardown runs (so handlers can use what a lifespan opened until the last client is gone).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._registry import Registry
    from ._server import Server

Lifespan = Callable[[], AsyncIterator[None]]
"""An async generator function that sets something up, yields once, and tears it down."""
BackgroundTask = Callable[[], Awaitable[None]]
"""An ``async def`` function run for as long as the server serves."""

LifespanT = TypeVar("LifespanT", bound=Lifespan)
BackgroundTaskT = TypeVar("BackgroundTaskT", bound=BackgroundTask)

logger = logging.getLogger("trio_socketapi")


class LifecycleDecorators:
    """``lifespan`` and ``background``, the same on ``SocketAPI`` and ``Router``."""

    registry: Registry

    def lifespan(self, func: LifespanT) -> LifespanT:
        """Register an async generator function that sets up before serving and tears down after.

        The code before its one ``yield`` runs once the server is ready to broadcast and before
        the first connection is accepted (an exception there stops ``serve`` with that error);
        the code after it runs once every connection has closed, also when serving stopped on
        an error, shielded from cancellation for at most ``settings.shutdown_timeout``.
        Lifespans start in registration order and end in reverse. Returns ``func`` unchanged.
        """
        self.registry.add_lifespan(func)
        return func

    def background(self, func: BackgroundTaskT) -> BackgroundTaskT:
        """Register ``async def func()`` to run for as long as the server serves.

        Started after the lifespans, before the first connection is accepted; cancelled when
        shutdown begins, before the clients are closed and the lifespans end. An exception in
        it stops the server, and ``serve`` raises it. Returns ``func`` unchanged.
        """
        self.registry.add_background_task(func)
        return func


@asynccontextmanager
async def open_server(server: Server) -> AsyncIterator[trio.Nursery]:
    """Run the app around ``server`` for the duration of the block; yield the nursery that
    connections run in.

    A failure of the broker, of a lifespan's setup, of a background task or of the block
    itself is raised as itself (not inside an exception group), after everything has stopped.
    The lifespans' teardown is shielded from cancellation but bounded by ``shutdown_timeout``.
    """
    app = server.app
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:
        try:
            await nursery.start(server.run_broker)
        except Exception as exc:
            failure = exc
        else:
            entered: list[AbstractAsyncContextManager[None]] = []
            try:
                for lifespan in app.registry.lifespans:
                    starting = asynccontextmanager(lifespan)()
                    await starting.__aenter__()
                    entered.append(starting)
                async with trio.open_nursery() as background:
                    for task in app.registry.background_tasks:
                        background.start_soon(task)
                    background.start_soon(server.run_keepalive)
                    background.start_soon(server.run_presence)
                    try:
                        yield nursery
                    finally:
                        # Stop the background tasks first, so none broadcasts into the closing.
                        background.cancel_scope.cancel()
                        with trio.CancelScope(shield=True):
                            await server.shutdown()
            except Exception as exc:
                failure = single_error(exc)
            finally:
                with trio.move_on_after(server.settings.shutdown_timeout) as teardown:
                    teardown.shield = True
                    # Each teardown runs as if serving had ended normally: a failing one is
                    # logged and raised later, and the ones before it still run.
                    for started in reversed(entered):
                        try:
                            await started.__aexit__(None, None, None)
                        except Exception as exc:
                            logger.exception("lifespan teardown failed")
                            failure = failure or exc
        nursery.cancel_scope.cancel()  # the broker subscription
    if failure is not None:
        raise failure


def single_error(exc: Exception) -> Exception:
    """The one error inside nested single-error exception groups, else ``exc`` itself."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
