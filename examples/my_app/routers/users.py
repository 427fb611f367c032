"""Users and their presence: ``get_user``, ``update_status``, ``update_my_status`` and the
``user_status`` channel.

Also the one place the example authenticates. ``current_user`` is a dependency that receives the
``Connection`` and reads a token from the handshake URL (``ws://127.0.0.1:8000/?token=ada-token``):
browsers cannot set headers on a WebSocket handshake, so a query parameter is the usual carrier.
The user it finds is remembered in ``connection.state`` for the rest of the connection.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel

from trio_socketapi import Connection, Depends, Router

router = Router()

Status = Literal["online", "away", "offline"]


class User(BaseModel):
    id: int
    name: str
    status: Status = "offline"


class UserStatus(BaseModel):
    user_id: int
    status: str


USERS: dict[int, User] = {
    1: User(id=1, name="Ada", status="online"),
    2: User(id=2, name="Grace", status="away"),
    3: User(id=3, name="Linus"),
}
"""The user store: in memory, so every restart begins from these three."""

TOKENS: dict[str, int] = {"ada-token": 1, "grace-token": 2, "linus-token": 3}
"""Sign-in tokens by user id. A real app would verify a signed token instead."""


def find_user(user_id: int) -> User:
    """The user with that id; raises ``LookupError`` (sent to the client as an error frame)."""
    try:
        return USERS[user_id]
    except KeyError:
        raise LookupError(f"User {user_id} not found.") from None


async def current_user(connection: Connection) -> User:
    """The user this connection signed in as with ``?token=...``; raises ``PermissionError``."""
    user_id = connection.state.get("user_id")
    if user_id is None:
        user_id = TOKENS.get(connection.query_params.get("token", ""))
        if user_id is None:
            raise PermissionError("Sign in first: connect with ?token=<your token> in the URL.")
        connection.state["user_id"] = user_id
    return find_user(user_id)


@router.channel("user_status")
async def user_status(user_id: int, status: str = "online") -> UserStatus:
    """One user's presence (socketapi's Routers signature).

    Subscribing with ``{"user_id": 1}`` sends that pair back as the default response; subscribing
    with no data sends nothing first (``user_id`` is required and not sent). Either way each
    broadcast ``user_status(user_id=..., status=...)`` reaches every subscriber.
    """
    return UserStatus(user_id=user_id, status=status)


@router.action("get_user")
async def get_user(user_id: int) -> User:
    """One user, or an error frame ``User N not found.``"""
    return find_user(user_id)


@router.action("update_status")
async def update_status(user_id: int, status: Status) -> User:
    """Set a user's status and tell every ``user_status`` subscriber (the Routers signature)."""
    updated = find_user(user_id).model_copy(update={"status": status})
    USERS[user_id] = updated
    await user_status(user_id=user_id, status=status)
    return updated


@router.action("update_my_status")
async def update_my_status(status: Status, me: Annotated[User, Depends(current_user)]) -> User:
    """The same for the signed-in user only (connect with ``?token=...``)."""
    return await update_status(user_id=me.id, status=status)
