"""The ``analytics`` channel: a feed of business events that other routers publish to.

``orders.py`` imports ``analytics`` and awaits it; that works before and after this router is
included in the app. ``default_response=False``: subscribers receive events only.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from trio_socketapi import Router

router = Router()


class AnalyticsEvent(BaseModel):
    event: str
    data: dict[str, Any]
    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


@router.channel("analytics", default_response=False)
async def analytics(event: str = "", data: dict[str, Any] | None = None) -> AnalyticsEvent:
    """One event for every subscriber (the defaults only serve the call made on subscribe)."""
    return AnalyticsEvent(event=event, data=data or {})
