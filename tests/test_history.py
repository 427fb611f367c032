"""History and recovery in memory (PROTOCOL.md "History and recovery", docs/history.md).

The recovery rule and the stream store are pure and tested as tables; the rest runs the real
server over in-memory WebSockets under the autojump clock, so ``ttl`` expiry is real time passing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pytest
import trio

from trio_socketapi import History, Publication, RequiredOnSubscribe, SocketAPI
from trio_socketapi._broker import MemoryBroker
from trio_socketapi._history import Entry, MemoryStreams, Replay, Since, recovery
from trio_socketapi.testing import TestClient, open_test_server

E = "e1"  # an epoch


def entries(*offsets: int) -> list[Entry]:
    return [Entry(o, b"%d" % o) for o in offsets]


@pytest.mark.parametrize(
    ("since", "epoch", "offset", "kept", "expected"),
    [
        pytest.param(None, E, 5, entries(4, 5), Replay(E, 5, ()), id="fresh subscribe"),
        pytest.param(Since(3, E), E, 5, entries(4, 5), Replay(E, 5, entries(4, 5)), id="replay"),
        pytest.param(
            Since(3, E), E, 5, entries(2, 3, 4, 5), Replay(E, 5, entries(4, 5)), id="skips"
        ),
        pytest.param(Since(5, E), E, 5, entries(4, 5), Replay(E, 5, []), id="up to date"),
        pytest.param(Since(0, E), E, 0, [], Replay(E, 0, []), id="empty stream"),
        pytest.param(Since(2, E), E, 5, entries(4, 5), Replay(E, 5, None), id="3 trimmed"),
        pytest.param(Since(3, E), E, 5, [], Replay(E, 5, None), id="all expired"),
        pytest.param(Since(3, "old"), E, 5, entries(4, 5), Replay(E, 5, None), id="other epoch"),
        pytest.param(Since(6, E), E, 5, entries(4, 5), Replay(E, 5, None), id="from the future"),
    ],
)
def test_recovery_rule(
    since: Since | None, epoch: str, offset: int, kept: list[Entry], expected: Replay
) -> None:
    replay = recovery(since, epoch, offset, kept)
    assert replay.epoch == expected.epoch and replay.offset == expected.offset
    assert (None if replay.entries is None else list(replay.entries)) == (
        None if expected.entries is None else list(expected.entries)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10), "size must be positive"),
        ((10, 0), "ttl must be positive"),
        ((10, 60, 30), "position_ttl must be at least ttl"),
    ],
)
def test_history_settings_are_checked(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        History(*args)


ROOM_A = (b'{"room":"a"}', {"room": "a"})
ROOM_B = (b'{"room":"b"}', {"room": "b"})


def test_streams_number_each_stream_and_keep_the_newest_size() -> None:
    streams, history = MemoryStreams(), History(size=3, ttl=60)
    for i in range(5):
        streams.record("chat", [ROOM_A], b"%d" % i, history, now=float(i))
    [(key, offset, _)] = streams.record("chat", [ROOM_B], b'"b"', history, now=5.0)
    assert (key, offset) == (ROOM_B[0], 1)
    kept = streams.recent("chat", ROOM_A[0], 10, history, now=5.0)
    assert [(p.offset, p.data) for p in kept] == [(3, 2), (4, 3), (5, 4)]
    assert [p.offset for p in streams.recent("chat", ROOM_A[0], 2, history, now=5.0)] == [4, 5]


def test_streams_drop_entries_older_than_ttl_but_keep_the_position() -> None:
    streams, history = MemoryStreams(), History(size=10, ttl=5, position_ttl=100)
    [(_, _, epoch)] = streams.record("chat", [ROOM_A], b"1", history, now=0.0)
    streams.record("chat", [ROOM_A], b"2", history, now=4.0)
    assert [p.offset for p in streams.recent("chat", ROOM_A[0], 10, history, now=6.0)] == [2]
    replay = streams.read("chat", *ROOM_A, Since(1, epoch), history, now=50.0)
    assert (replay.epoch, replay.offset, replay.recovered) == (epoch, 2, False)
    replay = streams.read("chat", *ROOM_A, Since(2, epoch), history, now=60.0)
    assert (replay.epoch, replay.offset, replay.recovered) == (epoch, 2, True)


def test_a_stream_idle_past_position_ttl_starts_again_under_a_new_epoch() -> None:
    streams, history = MemoryStreams(), History(size=10, ttl=5, position_ttl=10)
    [(_, _, epoch)] = streams.record("chat", [ROOM_A], b"1", history, now=0.0)
    replay = streams.read("chat", *ROOM_A, Since(1, epoch), history, now=11.0)
    assert replay.epoch != epoch and replay.offset == 0 and not replay.recovered
    assert streams.matching("chat", {}, now=11.0) == [ROOM_A]
    assert streams.matching("chat", {}, now=30.0) == []


def test_matching_streams_agree_on_the_named_key_values() -> None:
    streams, history = MemoryStreams(), History(size=10, ttl=5)
    one = (b'{"league":"x","team":1}', {"league": "x", "team": 1})
    two = (b'{"league":"x","team":2}', {"league": "x", "team": 2})
    other = (b'{"league":"y","team":1}', {"league": "y", "team": 1})
    for stream in (one, two, other):
        streams.read("scores", *stream, None, history, now=0.0)
    assert streams.matching("scores", {"league": "x"}, now=1.0) == [one, two]
    assert streams.matching("scores", {"team": 1}, now=1.0) == [one, other]


# --- over the wire -----------------------------------------------------------------------------


def make_app(broker: MemoryBroker | None = None, *, size: int = 5, ttl: float = 60) -> SocketAPI:
    app = SocketAPI(broker=broker)

    @app.action("ping")
    async def ping() -> str:
        return "pong"

    @app.channel("chat_room", default_response=True, history=History(size=size, ttl=ttl))
    async def chat_room(
        room_id: Annotated[str, RequiredOnSubscribe] = "lobby", text: str = "welcome"
    ) -> str:
        return text

    @app.channel("news")
    async def news(text: str = "") -> str:
        return text

    return app


def frame(text: str, offset: int, epoch: str, room: str = "a") -> dict[str, Any]:
    return {
        "type": "data",
        "channel": "chat_room",
        "data": text,
        "params": {"room_id": room},
        "offset": offset,
        "epoch": epoch,
    }


def welcome(room: str = "a") -> dict[str, Any]:
    return {"type": "data", "channel": "chat_room", "data": "welcome", "params": {"room_id": room}}


async def subscribe(
    client: TestClient, room: str = "a", since: Mapping[str, Any] | None = None, id: int = 1
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "subscribe",
        "id": id,
        "channel": "chat_room",
        "data": {"room_id": room},
    }
    if since is not None:
        message["since"] = since
    await client.send_json(message)
    reply: dict[str, Any] = await client.receive_json()
    return reply


async def publish(app: SocketAPI, *texts: str, room: str = "a") -> None:
    handler = app._registry.channels["chat_room"]
    for text in texts:
        await handler(room_id=room, text=text)


async def test_subscribed_tells_the_position_and_frames_carry_offset_and_epoch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect() as client:
        await publish(app, "m1")
        reply = await subscribe(client)
        epoch = reply["epoch"]
        assert reply == {"type": "subscribed", "channel": "chat_room", "id": 1, "offset": 1,
                         "epoch": epoch}  # fmt: skip
        assert await client.receive_json() == welcome()
        await publish(app, "m2", "m3")
        assert await client.receive_json() == frame("m2", 2, epoch)
        assert await client.receive_json() == frame("m3", 3, epoch)


async def test_a_client_without_ids_sees_socketapis_frames_on_a_history_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect() as client:
        assert await client.subscribe("chat_room", {"room_id": "a"}) == {
            "type": "subscribed",
            "channel": "chat_room",
        }
        assert await client.receive_json() == {
            "type": "data",
            "channel": "chat_room",
            "data": "welcome",
        }
        await publish(app, "m1")
        assert await client.receive_json() == {
            "type": "data",
            "channel": "chat_room",
            "data": "m1",
        }


async def test_resubscribe_since_replays_the_missed_then_live_without_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app) as server:
        async with server.connect() as first:
            epoch = (await subscribe(first))["epoch"]
            await first.receive_json()  # welcome
            await publish(app, "m1", "m2")
            assert (await first.receive_json())["offset"] == 1
            assert (await first.receive_json())["offset"] == 2
        await publish(app, "m3", "m4")  # missed while away
        async with server.connect() as again:
            reply = await subscribe(again, since={"offset": 2, "epoch": epoch}, id=9)
            assert reply == {"type": "subscribed", "channel": "chat_room", "id": 9,
                             "recovered": True, "offset": 4, "epoch": epoch}  # fmt: skip
            assert await again.receive_json() == frame("m3", 3, epoch)
            assert await again.receive_json() == frame("m4", 4, epoch)
            await publish(app, "m5")
            assert await again.receive_json() == frame("m5", 5, epoch)


async def test_up_to_date_resubscribe_replays_nothing_and_sends_no_default(
    autojump_clock: trio.testing.MockClock, assert_alive: Any
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect() as client:
        await publish(app, "m1")
        epoch = (await subscribe(client, id=1))["epoch"]
        await client.receive_json()  # welcome
        reply = await subscribe(client, since={"offset": 1, "epoch": epoch}, id=2)
        assert (reply["recovered"], reply["offset"]) == (True, 1)
        await assert_alive(client)  # the very next frame: nothing was replayed


@pytest.mark.parametrize(
    "since",
    [
        pytest.param(lambda epoch: {"offset": 1, "epoch": "another"}, id="other epoch"),
        pytest.param(lambda epoch: {"offset": 2, "epoch": epoch}, id="trimmed (size 5)"),
        pytest.param(lambda epoch: {"offset": 99, "epoch": epoch}, id="from the future"),
    ],
)
async def test_not_recovered_replays_nothing_and_the_default_response_follows(
    autojump_clock: trio.testing.MockClock, assert_alive: Any, since: Any
) -> None:
    app = make_app(size=5)
    async with open_test_server(app) as server, server.connect() as client:
        await publish(app, *(f"m{i}" for i in range(1, 9)))  # keeps 4..8
        epoch = (await subscribe(client, room="a", id=1))["epoch"]
        await client.receive_json()
        reply = await subscribe(client, since=since(epoch), id=2)
        assert reply == {"type": "subscribed", "channel": "chat_room", "id": 2,
                         "recovered": False, "offset": 8, "epoch": epoch}  # fmt: skip
        assert await client.receive_json() == welcome()
        await assert_alive(client)


async def test_publications_older_than_ttl_are_not_recovered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(ttl=10)
    async with open_test_server(app) as server, server.connect() as client:
        epoch = (await subscribe(client))["epoch"]
        await client.receive_json()
        await publish(app, "m1")
        await client.receive_json()
        await trio.sleep(5)
        await publish(app, "m2")
        await client.receive_json()
        await trio.sleep(6)  # m1 is 11 s old, m2 5 s
        assert (await subscribe(client, since={"offset": 0, "epoch": epoch}, id=2))[
            "recovered"
        ] is False
        await client.receive_json()  # welcome
        reply = await subscribe(client, since={"offset": 1, "epoch": epoch}, id=3)
        assert reply["recovered"] is True
        assert await client.receive_json() == frame("m2", 2, epoch)


async def test_server_side_history_returns_the_kept_publications(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(size=3)
    chat_room = app._registry.channels["chat_room"]
    async with open_test_server(app):
        await publish(app, "a1", "a2", "a3", "a4", room="a")
        await publish(app, "b1", room="b")
        kept = await chat_room.history(room_id="a", limit=50)
        assert [(p.offset, p.data) for p in kept] == [(2, "a2"), (3, "a3"), (4, "a4")]
        assert all(isinstance(p, Publication) and p.epoch == kept[0].epoch for p in kept)
        assert [p.data for p in await chat_room.history(room_id="a", limit=1)] == ["a4"]
        assert [p.data for p in await chat_room.history(room_id="b")] == ["b1"]
        assert await chat_room.history(room_id="nobody") == []


async def test_server_side_history_refuses_what_it_cannot_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    async with open_test_server(app):
        with pytest.raises(TypeError, match=r"needs exactly its key \['room_id'\]"):
            await app._registry.channels["chat_room"].history(room="a")
        with pytest.raises(ValueError, match="keeps no history"):
            await app._registry.channels["news"].history()


async def test_a_broadcast_naming_no_key_is_recorded_in_every_live_stream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app()
    chat_room = app._registry.channels["chat_room"]
    async with open_test_server(app) as server, server.connect() as client:
        await publish(app, "a1", room="a")
        epoch_b = (await subscribe(client, room="b"))["epoch"]
        await client.receive_json()
        await chat_room(text="to all")  # no room_id: every stream of the channel
        assert await client.receive_json() == frame("to all", 1, epoch_b, room="b")
        assert [(p.offset, p.data) for p in await chat_room.history(room_id="a")] == [
            (1, "a1"),
            (2, "to all"),
        ]


@pytest.mark.parametrize(
    "since",
    [
        [],
        "0",
        {"offset": 1},
        {"epoch": "e"},
        {"offset": -1, "epoch": "e"},
        {"offset": True, "epoch": "e"},
        {"offset": 1.5, "epoch": "e"},
        {"offset": 1, "epoch": 7},
        {"offset": 1, "epoch": ""},
    ],
)
async def test_a_bad_since_is_an_error_and_subscribes_nothing(
    autojump_clock: trio.testing.MockClock, assert_alive: Any, since: Any
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect() as client:
        assert await subscribe(client, since=since, id=4) == {
            "type": "error",
            "message": "'since' must be an object with an integer 'offset' (0 or more) and a"
            " string 'epoch'.",
            "id": 4,
            "channel": "chat_room",
        }
        await publish(app, "m1")
        await assert_alive(client)  # not subscribed: no data frame came first


async def test_since_without_an_id_is_an_error_in_socketapis_shape(
    autojump_clock: trio.testing.MockClock, assert_alive: Any
) -> None:
    app = make_app()
    async with open_test_server(app) as server, server.connect() as client:
        await client.send_json(
            {"type": "subscribe", "channel": "chat_room", "since": {"offset": 0, "epoch": "e"}}
        )
        assert await client.receive_json() == {
            "type": "error",
            "message": "'since' needs a message id (recovery is an extension).",
        }
        await assert_alive(client)


class SlowHistoryBroker(MemoryBroker):
    """A memory broker whose history reads take time, as Redis's do: publications race them."""

    async def read_stream(self, *args: Any) -> Replay:
        await trio.sleep(0.5)
        replay = await super().read_stream(*args)
        await trio.sleep(0.5)
        return replay


async def test_publications_racing_the_history_read_arrive_once_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = make_app(SlowHistoryBroker(), size=100)
    async with open_test_server(app) as server, trio.open_nursery() as nursery:
        async with server.connect() as first:
            epoch = (await subscribe(first))["epoch"]
            await first.receive_json()

        async def publish_steadily() -> None:
            for i in range(1, 41):
                await publish(app, f"m{i}")
                await trio.sleep(0.05)

        nursery.start_soon(publish_steadily)
        await trio.sleep(0.52)  # ten published while away
        async with server.connect() as again:
            reply = await subscribe(again, since={"offset": 0, "epoch": epoch}, id=2)
            assert reply["recovered"] is True
            offsets = [(await again.receive_json())["offset"] for _ in range(40)]
        assert offsets == list(range(1, 41))
