from trio_socketapi import Router
from pydantic import BaseModel
from typing import Annotated
from trio_socketapi import RequiredOnSubscribe

router = Router()


class Message(BaseModel):
    user: str
    text: str
    room: str


@router.channel("chat_room")
async def chat_room(
    room_id: Annotated[str, RequiredOnSubscribe],
    message: Message | None = None
):
    if message:
        return message
    return {"room": room_id, "text": "Welcome to the chat room!"}


@router.action("send_message")
async def send_message(message: Message):
    # Save message to database
    await chat_room(room_id=message.room, message=message)
    return {"sent": True}


@router.action("get_history")
async def get_history(room_id: str, limit: int = 50):
    # Fetch chat history from database
    return {"room": room_id, "messages": []}
