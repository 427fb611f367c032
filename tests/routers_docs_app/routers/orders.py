from trio_socketapi import Router
from .analytics import analytics

router = Router()


@router.action("create_order")
async def create_order(product_id: int, quantity: int):
    # Create order in database
    order_id = 12345

    # Track analytics event
    await analytics(
        event="order_created",
        data={"order_id": order_id, "product_id": product_id, "quantity": quantity}
    )

    return {"order_id": order_id, "status": "created"}
