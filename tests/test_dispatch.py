"""The dispatcher on its own: one well-formed message in, frames out to a fake peer.

No server, no WebSocket: ``Dispatcher.handle`` gets an ``Inbound`` (what ``parse_inbound`` makes
of a client's message) and a ``FakePeer`` (tests/fakes.py) that keeps every frame it is handed.
The app's handlers are real, registered through the public decorators; the hub is a real one,
inspected after each message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
import trio
import trio.testing
from fakes import FakePeer
from helpers import completed, data_frame, error, subscribed, unsubscribed

from trio_socketapi import (
    ClientError,
    Connection,
    History,
    RequiredOnSubscribe,
    Settings,
    SocketAPI,
)
from trio_socketapi._dispatch import Dispatcher
from trio_socketapi._history import Entry, Replay, Since
from trio_socketapi._hub import Hub, key_of
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


# --- a history channel: the replay and the publications made while it is read ------------------


class FakeHistoryBroker:
    """The one broker call a history subscribe makes, ``read_stream``: it runs ``during_read``
    (publications arriving while a real broker's read is in flight), then returns ``replay``."""

    def __init__(self, replay: Replay, during_read: Callable[[], None] = lambda: None) -> None:
        self.replay = replay
        self.during_read = during_read
        self.reads: list[tuple[str, bytes, Since | None]] = []

    async def read_stream(
        self, channel: str, key: bytes, params: object, since: Since | None, history: History
    ) -> Replay:
        self.reads.append((channel, key, since))
        await trio.lowlevel.checkpoint()
        self.during_read()
        return self.replay


def history_dispatcher(broker: FakeHistoryBroker) -> tuple[Dispatcher, Hub]:
    app = SocketAPI()

    @app.channel("chat", history=History(size=10, ttl=60))
    async def chat(room: Annotated[str, RequiredOnSubscribe], text: str = "") -> str:
        return text  # pragma: no cover - broadcasts go through the hub directly here

    core = app._core
    hub = Hub(core.counters)
    dispatcher = Dispatcher(
        core.registry,
        hub,
        FakePolicy(True),
        Settings(),
        core.counters,
        broker,
    )
    return dispatcher, hub


ROOM_A = {"room": "a"}


async def test_a_resubscribe_gets_the_replay_then_only_what_came_after_it_no_gap_no_duplicate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    key = key_of(ROOM_A)
    replay = Replay("e1", 5, [Entry(4, b'"four"'), Entry(5, b'"five"')])
    hub_box: list[Hub] = []

    def publish_during_read() -> None:  # offset 5 is in the replay, 6 is not
        for offset, text in ((5, b'"five"'), (6, b'"six"')):
            hub_box[0].publish("chat", ROOM_A, 1, text, positions={key: (offset, "e1")})

    broker = FakeHistoryBroker(replay, publish_during_read)
    dispatcher, hub = history_dispatcher(broker)
    hub_box.append(hub)
    peer = FakePeer()
    inbound = Inbound("subscribe", "chat", ROOM_A, 1, since=Since(3, "e1"))
    await dispatcher.handle(peer, inbound)
    position = {"params": ROOM_A, "epoch": "e1"}
    assert peer.received() == [
        subscribed("chat", id=1, recovered=True, offset=5, epoch="e1"),
        data_frame("chat", "four", offset=4, **position),
        data_frame("chat", "five", offset=5, **position),
        data_frame("chat", "six", offset=6, **position),
    ]
    assert broker.reads == [("chat", key, Since(3, "e1"))]
    hub.publish("chat", ROOM_A, 1, b'"seven"', positions={key: (7, "e1")})  # live from now on
    assert peer.received()[-1] == data_frame("chat", "seven", offset=7, **position)


async def test_a_resubscribe_in_another_epoch_is_not_recovered_and_gets_the_new_epochs_frames(
    autojump_clock: trio.testing.MockClock,
) -> None:
    key = key_of(ROOM_A)
    hub_box: list[Hub] = []

    def publish_during_read() -> None:  # the stream started again: offsets restart
        hub_box[0].publish("chat", ROOM_A, 1, b'"new"', positions={key: (1, "e2")})

    dispatcher, hub = history_dispatcher(
        FakeHistoryBroker(Replay("e2", 0, None), publish_during_read)
    )
    hub_box.append(hub)
    peer = FakePeer()
    await dispatcher.handle(peer, Inbound("subscribe", "chat", ROOM_A, 1, since=Since(9, "e1")))
    assert peer.received() == [
        subscribed("chat", id=1, recovered=False, offset=0, epoch="e2"),
        data_frame("chat", "new", params=ROOM_A, offset=1, epoch="e2"),
    ]


async def test_a_history_read_that_fails_leaves_no_subscription_and_is_an_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def fail() -> None:
        raise OSError("history store unreachable")

    dispatcher, hub = history_dispatcher(FakeHistoryBroker(Replay("e", 0, []), fail))
    peer = FakePeer()
    await dispatcher.handle(peer, Inbound("subscribe", "chat", ROOM_A, 1))
    assert peer.received() == [error("history store unreachable", id=1, channel="chat")]
    assert hub.subscription_count(peer) == 0
