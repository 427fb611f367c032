"""Orders: ``create_order`` stores an order and publishes an event on another router's channel."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated

from pydantic import BaseModel, Field

from trio_socketapi import Router

from .analytics import analytics

router = Router()


class Product(BaseModel):
    id: int
    name: str
    price_cents: int


class Order(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    product_id: int
    quantity: int
    total_cents: int
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


PRODUCTS: dict[int, Product] = {
    1: Product(id=1, name="Trio mug", price_cents=1250),
    2: Product(id=2, name="WebSocket stickers", price_cents=300),
}

ORDERS: dict[uuid.UUID, Order] = {}
"""Every order taken since the server started."""


@router.action("create_order")
async def create_order(product_id: int, quantity: Annotated[int, Field(ge=1, le=100)]) -> Order:
    """Order ``quantity`` of a product; raises ``LookupError`` for an unknown product."""
    product = PRODUCTS.get(product_id)
    if product is None:
        raise LookupError(f"Product {product_id} not found.")
    order = Order(
        product_id=product_id, quantity=quantity, total_cents=product.price_cents * quantity
    )
    ORDERS[order.id] = order
    await analytics(
        event="order_created",
        data={"order_id": str(order.id), "product_id": product_id, "quantity": quantity},
    )
    return order
