"""The handlers both compat apps serve, written once against either package's decorators.

``declare(app, router, RequiredOnSubscribe, Depends)`` registers the same actions and channels on
a socketapi app or a trio_socketapi app, so the two servers differ only in the framework.
(No ``from __future__ import annotations`` here: socketapi reads annotations as objects.)
"""

from typing import Annotated, Any

from pydantic import BaseModel


class Item(BaseModel):
    """A small model result."""

    name: str
    qty: int


async def pair(a: int, b: str) -> dict[str, Any]:
    """A dependency whose own parameters come nested under the parameter's name."""
    return {"a": a, "b": b}


def declare(app: Any, router: Any, required_on_subscribe: Any, depends: Any) -> None:
    """Register the shared handlers on ``app`` and ``router``, then include the router."""

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.action("item")
    async def item(name: str, qty: int) -> Item:
        return Item(name=name, qty=qty)

    @app.action("nothing")
    async def nothing(x: int) -> None:
        return None

    @app.action("fail")
    async def fail(reason: str) -> int:
        raise ValueError(f"cannot: {reason}")

    @app.action("with_dep")
    async def with_dep(x: int, dep: Annotated[dict[str, Any], depends(pair)]) -> dict[str, Any]:
        return {"x": x, "dep": dep}

    @app.channel("news")
    async def news(text: str = "hello") -> dict[str, str]:
        return {"text": text}

    @app.action("say")
    async def say(text: str) -> str:
        await news(text=text)
        return text

    @router.channel("feed")
    async def feed(topic: Annotated[str, required_on_subscribe], body: str = "welcome") -> str:
        return f"{topic}: {body}"

    app.include_router(router)
