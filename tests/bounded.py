"""``@bounded(seconds)``: run an async test under an absolute ``trio.fail_after``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import trio

P = ParamSpec("P")
R = TypeVar("R")


def bounded(seconds: float) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Fail the decorated async test if it runs longer than ``seconds`` (clock time of the
    test's trio clock: virtual seconds under ``autojump_clock``)."""

    def decorate(test: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(test)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with trio.fail_after(seconds):
                return await test(*args, **kwargs)

        return run

    return decorate
