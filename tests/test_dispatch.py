"""The dispatcher on its own: one well-formed message in, frames out to a fake peer.

No server, no WebSocket: ``Dispatcher.handle`` gets an ``Inbound`` (what ``parse_inbound`` makes
of a client's message) and a ``FakePeer`` (tests/fakes.py) that keeps every frame it is handed.
The app's handlers are real, registered through the public decorators; the hub is a real one,
inspected after each message.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio
import trio.testing
from fakes import FakePeer
from helpers import completed, data_frame, error, subscribed, unsubscribed

from trio_socketapi import ClientError, Connection, RequiredOnSubscribe, Settings, SocketAPI
from trio_socketapi._dispatch import Dispatcher
from trio_socketapi._hub import Hub
from trio_socketapi._protocol import Inbound


class FakePolicy:
    """A ``PublishPolicy`` that answers as told and remembers who asked."""

    def __init__(self, allows: bool) -> None:
        self.answer = allows
        self.asked: list[tuple[Connection, object]] = []

    def allows(self, connection: Connection, token: object) -> bool:
        self.asked.append((connection, token))
        return self.answer


def make_app() -> SocketAPI:
    app = SocketAPI()

    @app.action("add")
    async def add(a: int, b: int = 0) -> int:
        return a + b

    @app.action("nothing")
    async def nothing() -> None:
        return None

    @app.action("fail")
    async def fail(kind: str) -> None:
        if kind == "value":
            raise ValueError("bad value")
        if kind == "client":
            raise ClientError("meant for you")
        if kind == "exit":
            raise SystemExit(3)
        await trio.sleep_forever()

    @app.channel("room", default_response=True)
    async def room(name: Annotated[str, RequiredOnSubscribe], text: str = "welcome") -> str:
        return text

    @app.channel("guarded")
    async def guarded() -> None:
        raise PermissionError("not yet")

    return app


class Setup:
    """A dispatcher for ``make_app()`` with its hub, counters and a publish policy."""

    def __init__(self, settings: Settings | None = None, *, allows: bool = True) -> None:
        core = make_app()._core
        self.counters = core.counters
        self.hub = Hub(self.counters)
        self.policy = FakePolicy(allows)
        self.dispatcher = Dispatcher(
            core.registry, self.hub, self.policy, settings or Settings(), self.counters, core.broker
        )

    async def handle(
        self, peer: FakePeer, type: str, channel: Any, data: object = None, **fields: Any
    ) -> list[Any]:
        """Dispatch one message; the frames the peer got for it."""
        before = len(peer.frames)
        await self.dispatcher.handle(peer, Inbound(type, channel, data, **fields))
        return peer.received()[before:]


@pytest.fixture
def setup() -> Setup:
    return Setup()


@pytest.mark.parametrize(
    ("channel", "data", "frames"),
    [
        pytest.param("add", {"a": 2, "b": "3"}, [completed("add", 5)], id="coerced"),
        pytest.param("add", {"a": 2}, [completed("add", 2)], id="a-default"),
        pytest.param("nothing", None, [completed("nothing")], id="none-has-no-data"),
        pytest.param("nope", {}, [error("Action 'nope' not found.")], id="unknown"),
        pytest.param("add", {"b": 1}, [error("Invalid parameters for action 'add'")], id="missing"),
        pytest.param("fail", {"kind": "value"}, [error("bad value")], id="raises"),
    ],
)
async def test_an_action_without_an_id_gets_exactly_socketapis_frame(
    setup: Setup, channel: str, data: object, frames: list[Any]
) -> None:
    assert await setup.handle(FakePeer(), "action", channel, data, id=None) == frames


async def test_with_an_id_every_reply_carries_it_and_an_error_its_channel_and_errors(
    setup: Setup,
) -> None:
    peer = FakePeer()
    assert await setup.handle(peer, "action", "add", {"a": 1}, id=7) == [completed("add", 1, id=7)]
    assert await setup.handle(peer, "action", "nope", None, id="x") == [
        error("Action 'nope' not found.", id="x", channel="nope")
    ]
    [invalid] = await setup.handle(peer, "action", "add", {"a": "one"}, id=8)
    assert invalid["id"] == 8 and invalid["channel"] == "add"
    assert [e["loc"] for e in invalid["errors"]] == [["a"]]


@pytest.mark.parametrize(
    ("kind", "expose", "message"),
    [
        pytest.param("value", True, "bad value", id="exposed"),
        pytest.param("value", False, "Internal server error.", id="hidden"),
        pytest.param("client", False, "meant for you", id="client-error-always-shown"),
        pytest.param("exit", True, "Internal server error.", id="base-exception"),
    ],
)
async def test_a_handler_exception_fails_its_message_only_as_the_settings_say(
    kind: str, expose: bool, message: str
) -> None:
    setup = Setup(Settings(expose_errors=expose))
    frames = await setup.handle(FakePeer(), "action", "fail", {"kind": kind}, id=None)
    assert frames == [error(message)]
    assert setup.counters.handler_errors == 1


async def test_cancellation_passes_through_and_sends_nothing(
    setup: Setup, autojump_clock: trio.testing.MockClock
) -> None:
    peer = FakePeer()
    with trio.move_on_after(1) as scope:
        await setup.handle(peer, "action", "fail", {"kind": "hang"}, id=None)
    assert scope.cancelled_caught
    assert peer.frames == [] and setup.counters.handler_errors == 0


async def test_subscribe_registers_then_replies_then_sends_the_default_response(
    setup: Setup,
) -> None:
    peer = FakePeer()
    frames = await setup.handle(peer, "subscribe", "room", {"name": "trio"}, id=None)
    assert frames == [subscribed("room"), data_frame("room", "welcome")]
    assert setup.hub.subscription_count(peer) == 1
    assert setup.hub.publish("room", {"name": "trio"}, 1, b'"hi"') == 1
    assert peer.received()[-1] == data_frame("room", "hi")


async def test_a_subscribe_with_an_id_gets_its_key_as_params_on_data_frames(setup: Setup) -> None:
    peer = FakePeer()
    frames = await setup.handle(peer, "subscribe", "room", {"name": "trio"}, id=1)
    assert frames == [
        subscribed("room", id=1),
        data_frame("room", "welcome", params={"name": "trio"}),
    ]
    setup.hub.publish("room", {"name": "trio"}, 1, b'"hi"')
    assert peer.received()[-1] == data_frame("room", "hi", params={"name": "trio"})


async def test_a_subscribe_whose_function_raises_makes_no_subscription(setup: Setup) -> None:
    peer = FakePeer()
    assert await setup.handle(peer, "subscribe", "guarded", None, id=None) == [error("not yet")]
    assert setup.hub.subscriber_count("guarded") == 0


async def test_subscribe_to_an_unknown_channel_or_without_its_key_is_refused(
    setup: Setup,
) -> None:
    peer = FakePeer()
    assert await setup.handle(peer, "subscribe", "nope", None, id=None) == [
        error("Channel 'nope' not found.")
    ]
    assert await setup.handle(peer, "subscribe", "room", {}, id=None) == [
        error("Invalid parameters for action 'room'")
    ]
    assert setup.hub.subscription_count(peer) == 0


async def test_past_max_subscriptions_a_subscribe_is_refused_and_the_rest_kept() -> None:
    setup = Setup(Settings(max_subscriptions=2))
    peer = FakePeer()
    for name in ("a", "b"):
        await setup.handle(peer, "subscribe", "room", {"name": name}, id=None)
    assert await setup.handle(peer, "subscribe", "room", {"name": "c"}, id=None) == [
        error("Subscription limit reached (2).")
    ]
    assert setup.hub.subscription_count(peer) == 2


async def test_unsubscribe_with_a_key_removes_that_one_and_without_every_one(
    setup: Setup,
) -> None:
    peer = FakePeer()
    for name in ("a", "b", "c"):
        await setup.handle(peer, "subscribe", "room", {"name": name}, id=None)
    assert await setup.handle(peer, "unsubscribe", "room", {"name": "a"}, id=None) == [
        unsubscribed("room")
    ]
    assert setup.hub.subscription_count(peer) == 2
    assert await setup.handle(peer, "unsubscribe", "room", None, id=5) == [
        unsubscribed("room", id=5)
    ]
    assert setup.hub.subscription_count(peer) == 0


async def test_unsubscribe_from_what_is_not_held_or_does_not_exist_still_replies(
    setup: Setup,
) -> None:
    peer = FakePeer()
    assert await setup.handle(peer, "unsubscribe", "room", None, id=None) == [unsubscribed("room")]
    assert await setup.handle(peer, "unsubscribe", "nope", None, id=None) == [unsubscribed("nope")]


async def test_a_publish_the_policy_refuses_is_an_error_and_broadcasts_nothing() -> None:
    setup = Setup(allows=False)
    peer, listener = FakePeer("publisher"), FakePeer("listener")
    await setup.handle(listener, "subscribe", "room", {"name": "a"}, id=None)
    before = len(listener.frames)
    frames = await setup.handle(peer, "publish", "room", {"name": "a"}, id=None, token="t")
    assert frames == [error("Publishing is not allowed from this address.")]
    assert setup.policy.asked == [(peer.connection, "t")]
    assert len(listener.frames) == before


async def test_a_publish_to_an_unknown_channel_is_an_error(setup: Setup) -> None:
    assert await setup.handle(FakePeer(), "publish", "nope", {}, id=None) == [
        error("Channel 'nope' not found.")
    ]
