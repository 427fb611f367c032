from trio_socketapi import Router
from pydantic import BaseModel

router = Router()


class User(BaseModel):
    id: int
    username: str
    email: str


@router.channel("user_status")
async def user_status(user_id: int, status: str = "online"):
    return {"user_id": user_id, "status": status}


@router.action("get_user")
async def get_user(user_id: int) -> User:
    # Fetch user from database
    return User(id=user_id, username="john_doe", email="john@example.com")


@router.action("update_status")
async def update_status(user_id: int, status: str):
    # Update user status in database
    await user_status(user_id=user_id, status=status)
    return {"success": True}
