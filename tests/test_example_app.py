"""The example app (examples/my_app) end to end, as its users would drive it.

Most tests talk to ``main.app`` through ``trio_socketapi.testing`` (in memory, under
``autojump_clock``). One starts the example with the command line over loopback TCP and stops it
with SIGINT. (``tests/test_docs.py`` runs the README's quick start and its tests.)

The example is imported the way ``python -m trio_socketapi main:app`` imports it: with
examples/my_app on ``sys.path``, as the modules ``main`` and ``routers.*``.
"""

from __future__ import annotations

import importlib
import json
import re
import signal
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from helpers import completed, error, free_port, subscribed, wait_until_listening
from trio_websocket import ConnectionClosed, open_websocket

from trio_socketapi import Connection, PublishError, Router, SocketAPI
from trio_socketapi.testing import TestClient, TestServer, open_test_server, upgrade_request

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = ROOT / "examples" / "my_app"

if str(EXAMPLE_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DIR))
main = importlib.import_module("main")
users = importlib.import_module("routers.users")
chat = importlib.import_module("routers.chat")
orders = importlib.import_module("routers.orders")
clock = importlib.import_module("routers.clock")
assert Path(main.__file__).parent == EXAMPLE_DIR, f"another 'main' module was imported: {main}"

TIMEOUT = 10.0
"""Seconds any in-memory test may take (virtual time under ``autojump_clock``)."""


@pytest.fixture(autouse=True)
def fresh_example_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the example's initial in-memory data."""
    monkeypatch.setattr(users, "USERS", dict(users.USERS))
    monkeypatch.setattr(chat, "HISTORY", type(chat.HISTORY)(chat.HISTORY.default_factory))
    monkeypatch.setattr(orders, "ORDERS", {})


@asynccontextmanager
async def example_server() -> AsyncIterator[TestServer]:
    with trio.fail_after(TIMEOUT):
        async with open_test_server(main.app) as server:
            yield server


async def assert_nothing_queued(client: TestClient) -> None:
    """The client's next frame answers a fresh request: nothing else was sent to it before.

    Every frame to a client goes through one ordered outbox and broadcasts are queued before
    the action that made them replies, so this is exact, not a timing guess.
    """
    assert await client.unsubscribe("probe") == {"type": "unsubscribed", "channel": "probe"}


def chat_message(room: str, text: str, user: str = "ada") -> dict[str, Any]:
    return {"user": user, "text": text, "room": room}


# --- users ------------------------------------------------------------------------------------


async def test_get_user_replies_with_the_user_model_as_json(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.action("get_user", {"user_id": 2}) == completed(
            "get_user", {"id": 2, "name": "Grace", "status": "away"}
        )


async def test_get_user_coerces_a_numeric_string_and_names_the_function_when_invalid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert (await client.action("get_user", {"user_id": "1"}))["data"]["name"] == "Ada"
        assert await client.action("get_user", {"user_id": "one"}) == error(
            "Invalid parameters for action 'get_user'"
        )
        assert await client.action("get_user") == error("Invalid parameters for action 'get_user'")


async def test_unknown_user_is_an_error_frame_with_the_exception_text(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.action("get_user", {"user_id": 99}) == error("User 99 not found.")
        # The connection stays usable.
        assert (await client.action("get_user", {"user_id": 1}))["status"] == "completed"


async def test_request_id_is_echoed_on_replies_and_errors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.action("get_user", {"user_id": 3}, id="r1") == {
            **completed("get_user", {"id": 3, "name": "Linus", "status": "offline"}),
            "id": "r1",
        }
        assert await client.action("get_user", {"user_id": 99}, id=7) == {
            "type": "error",
            "message": "User 99 not found.",
            "id": 7,
            "channel": "get_user",
        }


async def test_user_status_subscribe_without_user_id_sends_no_default_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as watcher:
        assert await watcher.subscribe("user_status") == subscribed("user_status")
        await assert_nothing_queued(watcher)


async def test_user_status_subscribe_with_user_id_gets_the_documented_default_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as watcher:
        assert await watcher.subscribe("user_status", {"user_id": "1"}) == subscribed("user_status")
        assert await watcher.receive_json() == {
            "type": "data",
            "channel": "user_status",
            "data": {"user_id": 1, "status": "online"},
        }


async def test_update_status_broadcasts_user_status_to_every_subscriber(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect() as admin,
        server.connect() as watcher1,
        server.connect() as watcher2,
    ):
        assert await watcher1.subscribe("user_status") == subscribed("user_status")
        assert await watcher2.subscribe("user_status", {"user_id": 3}) == subscribed("user_status")
        await watcher2.receive_json()  # its default response

        reply = await admin.action("update_status", {"user_id": 2, "status": "online"})

        assert reply == completed("update_status", {"id": 2, "name": "Grace", "status": "online"})
        for watcher in (watcher1, watcher2):  # user_id is not a key: every subscriber
            assert await watcher.receive_json() == {
                "type": "data",
                "channel": "user_status",
                "data": {"user_id": 2, "status": "online"},
            }
        await assert_nothing_queued(admin)


async def test_update_my_status_changes_the_signed_in_user_and_broadcasts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect("/?token=ada-token") as ada,
        server.connect() as watcher,
    ):
        assert await watcher.subscribe("user_status") == subscribed("user_status")

        reply = await ada.action("update_my_status", {"status": "away"})

        assert reply == completed("update_my_status", {"id": 1, "name": "Ada", "status": "away"})
        assert await watcher.receive_json() == {
            "type": "data",
            "channel": "user_status",
            "data": {"user_id": 1, "status": "away"},
        }
        assert (await watcher.action("get_user", {"user_id": 1}))["data"]["status"] == "away"
        await assert_nothing_queued(ada)  # ada did not subscribe


async def test_update_status_without_a_token_is_refused_and_broadcasts_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect("/?token=wrong") as stranger,
        server.connect() as watcher,
    ):
        await watcher.subscribe("user_status")

        assert await stranger.action("update_my_status", {"status": "away"}) == error(
            "Sign in first: connect with ?token=<your token> in the URL."
        )

        await assert_nothing_queued(watcher)
        assert users.USERS[1].status == "online"


async def test_update_status_rejects_an_unknown_status(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect("/?token=ada-token") as ada:
        assert await ada.action("update_my_status", {"status": "busy"}) == error(
            "Invalid parameters for action 'update_my_status'"
        )
        assert await ada.action("update_status", {"user_id": 1, "status": "busy"}) == error(
            "Invalid parameters for action 'update_status'"
        )


async def test_a_client_cannot_pass_the_signed_in_user_as_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect("/?token=ada-token") as ada:
        impostor = {"status": "away", "me": {"id": 2, "name": "Grace", "status": "away"}}
        reply = await ada.action("update_my_status", impostor)
        assert reply["data"] == {"id": 1, "name": "Ada", "status": "away"}
        assert users.USERS[2].status == "away"  # unchanged: Grace was away already
        assert users.USERS[1].status == "away"


async def test_current_user_reads_the_token_once_and_keeps_the_user_in_connection_state() -> None:
    connection = Connection(path="/", query_string="token=grace-token", headers={}, remote=None)

    assert (await users.current_user(connection)).name == "Grace"
    assert connection.state == {"user_id": 2}
    connection.query_string = ""  # later messages need no token: the state remembers
    assert (await users.current_user(connection)).name == "Grace"


# --- chat -------------------------------------------------------------------------------------


async def test_chat_subscribe_replies_subscribed_then_a_welcome_for_that_room(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.subscribe("chat_room", {"room_id": "a"}) == subscribed("chat_room")
        assert await client.receive_json() == {
            "type": "data",
            "channel": "chat_room",
            "data": {"room": "a", "text": "Welcome to room a!"},
        }


async def test_chat_subscribe_without_room_id_is_invalid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.subscribe("chat_room") == error(
            "Invalid parameters for action 'chat_room'"
        )


async def test_send_message_reaches_only_the_subscribers_of_its_room(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect() as a1,
        server.connect() as a2,
        server.connect() as b1,
        server.connect() as sender,
    ):
        for client, room in ((a1, "a"), (a2, "a"), (b1, "b")):
            assert await client.subscribe("chat_room", {"room_id": room}) == subscribed("chat_room")
            await client.receive_json()  # the welcome

        reply = await sender.action("send_message", {"message": chat_message("a", "hi")})

        assert reply["status"] == "completed"
        sent = reply["data"]
        assert {k: sent[k] for k in ("user", "text", "room")} == chat_message("a", "hi")
        assert datetime.fromisoformat(sent["sent_at"].replace("Z", "+00:00")).tzinfo
        for client in (a1, a2):
            assert await client.receive_json() == {
                "type": "data",
                "channel": "chat_room",
                "data": sent,
            }
        await assert_nothing_queued(b1)
        await assert_nothing_queued(sender)


async def test_one_connection_in_two_rooms_tells_them_apart_by_params(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        for room in ("a", "b"):  # an id opts the subscription's data frames into "params"
            await client.subscribe("chat_room", {"room_id": room}, id=room)
            await client.receive_json()

        async def say(room: str, text: str) -> None:
            message = {"message": chat_message(room, text)}
            await client.send_json({"type": "action", "channel": "send_message", "data": message})

        await say("b", "to b")
        # The broadcast reaches the sender's outbox before the action's own reply.
        frame = await client.receive_json()
        assert (frame["params"], frame["data"]["text"]) == ({"room_id": "b"}, "to b")
        assert (await client.receive_json())["channel"] == "send_message"

        assert await client.unsubscribe("chat_room", {"room_id": "b"}) == {
            "type": "unsubscribed",
            "channel": "chat_room",
        }
        await say("b", "gone")
        assert (await client.receive_json())["channel"] == "send_message"
        await say("a", "still here")
        frame = await client.receive_json()
        assert (frame["params"], frame["data"]["text"]) == ({"room_id": "a"}, "still here")


async def test_get_history_returns_the_latest_messages_of_the_room_up_to_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        for text in ("one", "two", "three"):
            await client.action("send_message", {"message": chat_message("a", text)})
        await client.action("send_message", {"message": chat_message("b", "elsewhere")})

        reply = await client.action("get_history", {"room_id": "a", "limit": 2})

        assert [m["text"] for m in reply["data"]] == ["two", "three"]
        reply = await client.action("get_history", {"room_id": "a"})  # limit defaults to 50
        assert [m["text"] for m in reply["data"]] == ["one", "two", "three"]


async def test_get_history_of_a_quiet_room_is_an_empty_list_not_a_missing_data_key(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.action("get_history", {"room_id": "nobody"}) == completed(
            "get_history", []
        )


async def test_history_keeps_only_the_latest_messages_of_each_room(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        total = chat.HISTORY_SIZE + 5
        for n in range(total):
            await client.action("send_message", {"message": chat_message("a", f"m{n}")})

        reply = await client.action("get_history", {"room_id": "a", "limit": chat.HISTORY_SIZE})

        texts = [m["text"] for m in reply["data"]]
        assert texts == [f"m{n}" for n in range(5, total)]


@pytest.mark.parametrize("limit", [0, -1, 10_000, "many"])
async def test_get_history_rejects_a_limit_out_of_range(
    limit: object, autojump_clock: trio.testing.MockClock
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.action("get_history", {"room_id": "a", "limit": limit}) == error(
            "Invalid parameters for action 'get_history'"
        )


# --- notifications ----------------------------------------------------------------------------


async def test_notifications_subscribe_sends_no_data_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.subscribe("notifications", {"user_id": 1}) == subscribed(
            "notifications"
        )
        await assert_nothing_queued(client)


async def test_notify_user_reaches_only_that_users_subscribers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect() as ada,
        server.connect() as grace,
        server.connect() as admin,
    ):
        await ada.subscribe("notifications", {"user_id": 1})
        await grace.subscribe("notifications", {"user_id": 2})

        reply = await admin.action(
            "notify_user",
            {"user_id": "2", "message": "Your order shipped", "notification_type": "order"},
        )

        assert reply == completed("notify_user")  # returns None: no data key
        frame = await grace.receive_json()
        assert set(frame) == {"type", "channel", "data"}  # no id on subscribe: no "params"
        assert {k: v for k, v in frame["data"].items() if k != "sent_at"} == {
            "user_id": 2,
            "notification_type": "order",
            "message": "Your order shipped",
        }
        await assert_nothing_queued(ada)


async def test_notifications_of_an_unknown_user_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.subscribe("notifications", {"user_id": 42}) == error(
            "User 42 not found."
        )
        assert await client.action("notify_user", {"user_id": 42, "message": "hi"}) == error(
            "User 42 not found."
        )


# --- orders and analytics ---------------------------------------------------------------------


async def test_create_order_replies_with_the_order_and_publishes_to_analytics(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect() as dashboard,
        server.connect() as shop,
    ):
        assert await dashboard.subscribe("analytics") == subscribed("analytics")

        reply = await shop.action("create_order", {"product_id": 1, "quantity": 2})

        order = reply["data"]
        assert reply == completed("create_order", order)
        assert uuid.UUID(order["id"]) in orders.ORDERS
        assert (order["product_id"], order["quantity"], order["total_cents"]) == (1, 2, 2500)
        event = await dashboard.receive_json()
        assert event["type"] == "data" and event["channel"] == "analytics"
        assert "params" not in event
        assert event["data"]["event"] == "order_created"
        assert event["data"]["data"] == {
            "order_id": order["id"],
            "product_id": 1,
            "quantity": 2,
        }


async def test_create_order_needs_a_quantity_as_in_the_routers_docs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.action("create_order", {"product_id": 2}) == error(
            "Invalid parameters for action 'create_order'"
        )
        reply = await client.action("create_order", {"product_id": 2, "quantity": 1})
        assert (reply["data"]["quantity"], reply["data"]["total_cents"]) == (1, 300)


async def test_failed_orders_are_errors_and_publish_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        example_server() as server,
        server.connect() as dashboard,
        server.connect() as shop,
    ):
        await dashboard.subscribe("analytics")

        assert await shop.action("create_order", {"product_id": 99, "quantity": 1}) == error(
            "Product 99 not found."
        )
        assert await shop.action("create_order", {"product_id": 1, "quantity": 0}) == error(
            "Invalid parameters for action 'create_order'"
        )

        await assert_nothing_queued(dashboard)
        assert orders.ORDERS == {}


# --- clock ------------------------------------------------------------------------------------


async def test_clock_sends_the_time_on_subscribe_then_every_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as client:
        assert await client.subscribe("clock") == subscribed("clock")
        first = await client.receive_json()
        subscribed_at = trio.current_time()
        ticks = []
        for _ in range(3):
            ticks.append(await client.receive_json())
            ticks[-1]["after"] = trio.current_time() - subscribed_at
    assert first["type"] == "data" and first["channel"] == "clock"
    assert datetime.fromisoformat(first["data"]).tzinfo is not None
    assert [t["channel"] for t in ticks] == ["clock"] * 3
    # The background task ticks each second (the first tick is at most one second away).
    gaps = [ticks[i + 1]["after"] - ticks[i]["after"] for i in range(2)]
    assert gaps == [clock.TICK_SECONDS] * 2
    assert 0 < ticks[0]["after"] <= clock.TICK_SECONDS


async def test_clock_ticks_reach_only_its_subscribers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with example_server() as server, server.connect() as watcher, server.connect() as other:
        await watcher.subscribe("clock")
        await watcher.receive_json()
        await trio.sleep(2.5 * clock.TICK_SECONDS)
        await assert_nothing_queued(other)  # two ticks went out, to the subscriber only
        assert [(await watcher.receive_json())["channel"] for _ in range(2)] == ["clock"] * 2


# --- the app as a whole -----------------------------------------------------------------------


async def test_every_router_is_served_under_plain_names(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert set(main.app._registry.actions) == {
        "get_user",
        "update_status",
        "update_my_status",
        "send_message",
        "get_history",
        "notify_user",
        "create_order",
        "rooms/{room_id}/typing",
    }
    assert set(main.app._registry.channels) == {
        "user_status",
        "chat_room",
        "notifications",
        "analytics",
        "clock",
        "typing/{room_id}",
    }
    async with example_server() as server, server.connect() as client:
        assert await client.action("nope") == error("Action 'nope' not found.")
        assert await client.subscribe("nope") == error("Channel 'nope' not found.")


# --- package bugs found while writing the example (see the reasons) ---------------------------


async def test_a_router_included_in_two_apps_broadcasts_through_the_one_serving_here() -> None:
    router = Router()

    @router.channel("news", default_response=False)
    async def news(text: str = "") -> str:
        return text

    @router.action("publish_news")
    async def publish_news(text: str) -> None:
        await news(text=text)

    production = SocketAPI(host="127.0.0.1", port=free_port())  # e.g. main.app, not serving
    production.include_router(router)
    under_test = SocketAPI()  # e.g. a test's own app including the same router
    under_test.include_router(router)
    with trio.fail_after(TIMEOUT):
        async with open_test_server(under_test) as server, server.connect() as client:
            assert await client.subscribe("news") == subscribed("news")
            await client.send_json(
                {"type": "action", "channel": "publish_news", "data": {"text": "hi"}}
            )
            assert await client.receive_json() == {"type": "data", "channel": "news", "data": "hi"}


async def test_a_failed_forward_says_why() -> None:
    app = SocketAPI(host="127.0.0.1", port=free_port())  # nothing listens there

    @app.channel("news")
    async def news() -> str:
        return "hi"

    with trio.fail_after(TIMEOUT), pytest.raises(PublishError) as raised:
        await news()
    assert not str(raised.value).endswith(": "), str(raised.value)


# --- the command line over loopback -----------------------------------------------------------


async def _wait_for_text(path: Path, text: str) -> None:
    # Polls the server's log; callers bound it with fail_after.
    while text not in await trio.Path(path).read_text():  # noqa: ASYNC110
        await trio.sleep(0.02)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
@pytest.mark.parametrize("interrupts", [1, 2], ids=["ctrl-c", "ctrl-c-twice"])
async def test_cli_serves_the_example_and_sigint_closes_clients_with_1001(
    tmp_path: Path, interrupts: int
) -> None:
    port = free_port()
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "trio_socketapi", "main:app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            command, cwd=EXAMPLE_DIR, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with trio.fail_after(15):
            await wait_until_listening(port)
        with trio.fail_after(10):
            # A client that opens a connection and then reads nothing holds the shutdown in
            # its closing handshake, so a second Ctrl-C can arrive while the server is stopping.
            silent = await trio.open_tcp_stream("127.0.0.1", port)
            await silent.send_all(upgrade_request(host=f"127.0.0.1:{port}"))
            assert (await silent.receive_some()).startswith(b"HTTP/1.1 101 ")
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                await ws.send_message('{"type":"action","channel":"get_user","data":{"user_id":1}}')
                assert await ws.get_message() == (
                    '{"type":"action","channel":"get_user","status":"completed",'
                    '"data":{"id":1,"name":"Ada","status":"online"}}'
                )
                await ws.send_message('{"type":"subscribe","channel":"analytics"}')
                assert await ws.get_message() == '{"type":"subscribed","channel":"analytics"}'

                process.send_signal(signal.SIGINT)
                await _wait_for_text(log_path, "SIGINT received, shutting down")
                for _ in range(interrupts - 1):
                    process.send_signal(signal.SIGINT)

                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason is not None
                assert closed.value.reason.code == 1001
            await silent.aclose()
        with trio.fail_after(10):
            returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()
    log_text = log_path.read_text()
    assert returncode == 0, log_text
    assert f"serving on ws://127.0.0.1:{port}/" in log_text
    assert "SIGINT received, shutting down" in log_text
    assert ("SIGINT received again, still shutting down" in log_text) == (interrupts == 2)
    assert "Traceback" not in log_text


# --- what main.py prints and the example README's messages ------------------------------------


def test_every_message_of_the_readme_works_on_the_connect_line_main_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(main.app, "run", lambda: None)
    main.main()
    printed = capsys.readouterr().out
    urls = re.findall(r'python3 -m websockets "(ws://[^"]+)"', printed)
    assert len(urls) == 1, printed
    target = urllib.parse.urlsplit(urls[0])
    assert (target.hostname, target.port) == (main.app.host, main.app.port)
    readme = (EXAMPLE_DIR / "README.md").read_text()
    (block,) = re.findall(r"```text\n(.*?)```", readme, flags=re.DOTALL)
    messages = [json.loads(line) for line in block.splitlines() if line.strip()]
    registry = main.app._registry
    found = [
        registry.find_action(m["channel"]) or registry.find_channel(m["channel"]) for m in messages
    ]
    served = {handler.name for handler, _ in filter(None, found)}  # "typing/x" is typing/{room_id}
    assert served >= set(registry.actions) | set(registry.channels)

    async def type_them_all() -> list[dict[str, Any]]:
        frames = []
        with trio.fail_after(TIMEOUT):
            async with open_test_server(main.app) as server:
                path = f"{target.path}?{target.query}"
                async with server.connect(path) as client:
                    for message in messages:
                        await client.send_json(message)
                        await client.send_json({"type": "unsubscribe", "channel": "probe"})
                        while (frame := await client.receive_json())["channel"] != "probe":
                            frames.append(frame)
        return frames

    frames = trio.run(type_them_all, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [f for f in frames if f["type"] == "error"] == []
    assert {"analytics", "user_status", "chat_room", "notifications", "typing/lobby"} <= {
        f["channel"] for f in frames if f["type"] == "data"
    }
