"""Per-user notifications: the ``notifications`` channel, scoped by ``user_id``; ``notify_user``.

The channel has ``default_response=False``: subscribing answers ``subscribed`` and nothing else
(the function still runs on subscribe, which is how an unknown user is refused).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import BaseModel, Field

from trio_socketapi import RequiredOnSubscribe, Router

from .users import find_user

router = Router()


class Notification(BaseModel):
    user_id: int
    notification_type: str
    message: str
    sent_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


@router.channel("notifications", default_response=False)
async def notifications(
    user_id: Annotated[int, RequiredOnSubscribe],
    notification_type: str = "all",
    message: str = "",
) -> Notification:
    """One user's notifications. Raises ``LookupError`` for an unknown user."""
    find_user(user_id)
    return Notification(user_id=user_id, notification_type=notification_type, message=message)


@router.action("notify_user")
async def notify_user(
    user_id: int, message: Annotated[str, Field(min_length=1)], notification_type: str = "info"
) -> None:
    """Send a notification to ``user_id``'s subscribers only. Replies with no ``data``."""
    await notifications(user_id=user_id, notification_type=notification_type, message=message)
