"""The example app's dynamic channel path: ``typing/{room_id}`` and ``rooms/{room_id}/typing``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import trio

from trio_socketapi.testing import open_test_server

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "my_app"
if str(EXAMPLE_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DIR))
main = importlib.import_module("main")


async def test_typing_reaches_that_rooms_subscribers_under_the_concrete_name(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        async with (
            open_test_server(main.app) as server,
            server.connect() as here,
            server.connect() as elsewhere,
        ):
            assert await here.subscribe("typing/general") == {
                "type": "subscribed",
                "channel": "typing/general",
            }
            await elsewhere.subscribe("typing/random")
            await here.send_json(
                {"type": "action", "channel": "rooms/general/typing", "data": {"user": "ada"}}
            )
            assert await here.receive_json() == {
                "type": "data",
                "channel": "typing/general",
                "data": {"room": "general", "user": "ada"},
            }
            assert (await here.receive_json())["status"] == "completed"
            # The other room's subscriber got nothing: its next frame answers its own request.
            assert await elsewhere.unsubscribe("typing/random") == {
                "type": "unsubscribed",
                "channel": "typing/random",
            }
