"""An app that uses every feature the AsyncAPI document and the TypeScript types describe: models,
unions, optional and nullable fields, enums and literals, datetimes and UUIDs, dependencies,
``Connection`` parameters, dynamic paths, keys, history, tuples and dicts."""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Annotated, Literal

import pydantic

from trio_socketapi import Connection, Depends, History, RequiredOnSubscribe, Router, SocketAPI

app = SocketAPI(title="Everything", version="2.1.0", description="Every *feature*, described.")
router = Router()


class Mood(str, enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Author(pydantic.BaseModel):
    """Who wrote a message."""

    id: uuid.UUID
    name: str
    mood: Mood = Mood.HAPPY


class ChatMessage(pydantic.BaseModel):
    author: Author
    text: str
    sent_at: datetime.datetime
    reply_to: int | None = None
    tags: list[str] = []


class Circle(pydantic.BaseModel):
    kind: Literal["circle"] = "circle"
    radius: float


class Square(pydantic.BaseModel):
    kind: Literal["square"] = "square"
    side: float


async def current_user(connection: Connection, token: str) -> str:
    return f"{token}@{connection.remote}"


@app.action("add")
async def add(a: int, b: int = 0) -> int:
    """Add two numbers.

    The second defaults to zero.
    """
    return a + b


@app.action("area")
async def area(shape: Circle | Square, connection: Connection) -> float:
    """The area of a shape (a tagged union)."""
    return 3.14159 * shape.radius**2 if isinstance(shape, Circle) else shape.side**2


@app.action("whoami")
async def whoami(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
    """Who the dependency says you are."""
    return {"user": user}


@app.action("rooms/{room_id}/join")
async def join(room_id: int, nickname: str | None = None) -> tuple[int, str]:
    """Join a room by its number."""
    return room_id, nickname or "anon"


@router.channel("chat/{room_id}", history=History(size=10, ttl=60))
async def chat(
    room_id: str,
    lang: Annotated[str, RequiredOnSubscribe] = "en",
    message: ChatMessage | None = None,
) -> ChatMessage | None:
    """Messages of one room.

    Subscribe with the room in the name: ``chat/42``.
    """
    return message


@router.channel("ticks")
async def ticks(connection: Connection) -> int:
    return 0


app.include_router(router)
