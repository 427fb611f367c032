"""Chat rooms: the ``chat_room`` channel, scoped by ``room_id``; ``send_message``, ``get_history``;
and a typing indicator on a dynamic channel path, ``typing/{room_id}``.

``room_id`` is ``RequiredOnSubscribe``: a client subscribes to one room (or several, one
subscription each), and ``chat_room(room_id="a", ...)`` reaches room "a" only. Data frames of a
room carry ``"params": {"room_id": "a"}`` so a client in two rooms can tell them apart.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timezone
from typing import Annotated

from pydantic import BaseModel, Field

from trio_socketapi import RequiredOnSubscribe, Router

router = Router()

HISTORY_SIZE = 100
"""Messages kept per room; older ones are dropped (the history lives in memory)."""


class Message(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=2000)
    room: str = Field(min_length=1, max_length=64)
    sent_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


HISTORY: defaultdict[str, deque[Message]] = defaultdict(lambda: deque(maxlen=HISTORY_SIZE))
"""The latest ``HISTORY_SIZE`` messages of each room, oldest first."""


@router.channel("chat_room")
async def chat_room(
    room_id: Annotated[str, RequiredOnSubscribe], message: Message | None = None
) -> Message | dict[str, str]:
    """A room's messages; a new subscriber first gets a welcome (the default response)."""
    if message is None:
        return {"room": room_id, "text": f"Welcome to room {room_id}!"}
    return message


@router.action("send_message")
async def send_message(message: Message) -> Message:
    """Store a message in its room's history and send it to that room's subscribers."""
    HISTORY[message.room].append(message)
    await chat_room(room_id=message.room, message=message)
    return message


@router.action("get_history")
async def get_history(
    room_id: str, limit: Annotated[int, Field(ge=1, le=HISTORY_SIZE)] = 50
) -> list[Message]:
    """The room's latest ``limit`` messages, oldest first (``[]`` for a room nobody wrote in)."""
    if room_id not in HISTORY:
        return []
    return list(HISTORY[room_id])[-limit:]


# A dynamic channel path: the room is in the name ("typing/general"), so a client subscribes to
# one room's typing indicator by name alone, and its data frames name the room.
@router.channel("typing/{room_id}", default_response=False)
async def typing(room_id: str, user: str) -> dict[str, str]:
    """Who is typing in a room: subscribe to `typing/<room>`."""
    return {"room": room_id, "user": user}


@router.action("rooms/{room_id}/typing")
async def start_typing(room_id: str, user: str) -> None:
    """Tell a room's `typing/<room>` subscribers that `user` is typing."""
    await typing(room_id=room_id, user=user)
