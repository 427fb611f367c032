"""The ``analytics`` channel: a feed of business events that other routers publish to.

``orders.py`` imports ``analytics`` and awaits it; that works before and after this router is
included in the app. The signature is the one socketapi's Routers docs give: both parameters are
required, so ``{"type": "subscribe", "channel": "analytics"}`` subscribes without calling the
function (there is no event to send yet), and every later event arrives.
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


@router.channel("analytics")
async def analytics(event: str, data: dict[str, Any]) -> AnalyticsEvent:
    """One business event, for every subscriber."""
    return AnalyticsEvent(event=event, data=data)
