from trio_socketapi import Router

router = Router()


@router.channel("analytics")
async def analytics(event: str, data: dict):
    return {"event": event, "data": data}
