"""The ``clock`` channel: the server's time, broadcast every second by a background task.

``@router.background`` runs ``tick`` for as long as the app serves (started by ``main.py`` or
by ``python -m trio_socketapi main:app`` alike) and cancels it at shutdown. With no subscriber
a broadcast costs next to nothing, so the task simply runs all the time.
"""

from __future__ import annotations

from datetime import datetime, timezone

import trio

from trio_socketapi import Router

router = Router()

TICK_SECONDS = 1.0


@router.channel("clock", default_response=True)
async def clock() -> datetime:
    """The current time in UTC (also sent to each new subscriber)."""
    return datetime.now(timezone.utc)


@router.background
async def tick() -> None:
    """Broadcast the time every ``TICK_SECONDS``."""
    while True:
        await trio.sleep(TICK_SECONDS)
        await clock()
