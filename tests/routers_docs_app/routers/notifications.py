from trio_socketapi import Router
from typing import Annotated
from trio_socketapi import RequiredOnSubscribe

router = Router()


@router.channel("notifications", default_response=False)
async def notifications(
    user_id: Annotated[int, RequiredOnSubscribe],
    notification_type: str = "all"
):
    return {
        "user_id": user_id,
        "type": notification_type,
        "count": 0
    }


@router.action("notify_user")
async def notify_user(user_id: int, message: str, notification_type: str = "info"):
    # Send notification to user
    await notifications(user_id=user_id, notification_type=notification_type)
    return {"notified": True}
