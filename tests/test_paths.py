"""Dynamic channel and action names (``chat/{room_id}``): the pattern rules as tables, then on the
wire: subscribe and broadcast by concrete name, frames carrying it, unsubscribe, misses, history."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio

from tests.conftest import ConnectFactory, ServeFactory
from trio_socketapi import Connection, Depends, RequiredOnSubscribe, Router, SocketAPI
from trio_socketapi._paths import compile_path, segment_text
from trio_socketapi.testing import TestClient

# --------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("template", "name", "values"),
    [
        ("chat/{room_id}", "chat/42", {"room_id": "42"}),
        ("chat/{room_id}", "chat/a b", {"room_id": "a b"}),
        ("chat/{room_id}", "chat/", None),  # empty value
        ("chat/{room_id}", "chat/4/2", None),  # "/" never in a value
        ("chat/{room_id}", "chat", None),
        ("chat/{room_id}", "chats/42", None),
        ("rooms/{room_id}/join", "rooms/7/join", {"room_id": "7"}),
        ("rooms/{room_id}/join", "rooms/7/leave", None),
        ("{a}/{b}", "x/y", {"a": "x", "b": "y"}),
    ],
)
def test_a_pattern_matches_whole_segments(
    template: str, name: str, values: dict[str, str] | None
) -> None:
    pattern = compile_path(template)
    assert pattern is not None
    assert pattern.match(name) == values


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("chat/{room_id}", "chat/{other}", True),
        ("chat/{room_id}", "{kind}/general", True),  # both match chat/general
        ("chat/{room_id}", "news/{topic}", False),
        ("chat/{room_id}", "chat/{room_id}/x", False),
        ("rooms/{r}/join", "rooms/{r}/leave", False),
    ],
)
def test_overlap_means_some_name_matches_both(a: str, b: str, overlap: bool) -> None:
    pa, pb = compile_path(a), compile_path(b)
    assert pa is not None and pb is not None
    assert pa.overlaps(pb) is overlap and pb.overlaps(pa) is overlap


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("chat/{room_id", "whole segment"),
        ("chat/room-{id}", "whole segment"),
        ("chat/{1x}", "whole segment"),
        ("{a}/{a}", "twice"),
    ],
)
def test_a_malformed_template_is_refused(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_path(template)


def test_a_literal_name_has_no_pattern() -> None:
    assert compile_path("chat_room") is None


@pytest.mark.parametrize(
    ("value", "text"), [("42", "42"), (42, "42"), (1.5, "1.5"), (True, "true")]
)
def test_a_value_appears_in_a_name_as_its_text(value: object, text: str) -> None:
    assert segment_text(value) == text


def test_format_refuses_a_value_with_a_slash() -> None:
    pattern = compile_path("chat/{room_id}")
    assert pattern is not None
    assert pattern.format({"room_id": 42}) == "chat/42"
    with pytest.raises(ValueError, match="cannot contain '/'"):
        pattern.format({"room_id": "a/b"})


# --------------------------------------------------------------------------- registration


def test_overlapping_patterns_are_refused_at_registration() -> None:
    app = SocketAPI()

    @app.channel("chat/{room_id}")
    async def chat(room_id: str) -> None:
        return None

    with pytest.raises(ValueError, match="overlaps"):

        @app.channel("chat/{other_id}")
        async def other(other_id: str) -> None:
            return None

    @app.channel("chat/lobby")  # a literal name next to a pattern is fine: it wins
    async def lobby() -> None:
        return None

    @app.action("chat/{room_id}")  # actions are their own namespace
    async def act(room_id: str) -> None:
        return None


def test_overlap_across_an_included_router_is_refused_and_adds_nothing() -> None:
    app = SocketAPI()
    router = Router()

    @app.channel("chat/{room_id}")
    async def chat(room_id: str) -> None:
        return None

    @router.channel("x/y")
    async def literal() -> None:
        return None

    @router.channel("{kind}/general")
    async def general(kind: str) -> None:
        return None

    with pytest.raises(ValueError, match="overlaps"):
        app.include_router(router)
    assert "x/y" not in app._registry.channels


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("missing", "must be a parameter"),
        ("default", "cannot have a default"),
        ("connection", "must be a parameter"),
        ("depends", "must be a parameter"),
    ],
)
def test_a_path_parameter_must_be_a_plain_client_parameter(signature: str, message: str) -> None:
    app = SocketAPI()

    async def missing(other: str) -> None: ...
    async def default(room_id: str = "x") -> None: ...
    async def connection(room_id: Connection) -> None: ...
    async def depends(room_id: Annotated[str, Depends(lambda: "x")]) -> None: ...

    func = {"missing": missing, "default": default, "connection": connection}.get(
        signature, depends
    )
    with pytest.raises(TypeError, match=message):
        app.channel("chat/{room_id}")(func)
    with pytest.raises(TypeError, match=message):
        app.action("rooms/{room_id}/join")(func)


# --------------------------------------------------------------------------- on the wire


def chat_app() -> SocketAPI:
    app = SocketAPI()

    @app.channel("chat/{room_id}")
    async def chat(room_id: int, text: str = "") -> dict[str, Any]:
        return {"room": room_id, "text": text}

    @app.channel("chat/lobby")
    async def lobby(text: str = "") -> str:
        return f"lobby:{text}"

    @app.action("rooms/{room_id}/say")
    async def say(room_id: int, text: str) -> int:
        await chat(room_id=room_id, text=text)
        return room_id

    @app.action("rooms/lobby/say")
    async def say_lobby(text: str) -> str:
        await lobby(text=text)
        return "lobby"

    return app


def data_frame(channel: str, data: Any) -> dict[str, Any]:
    return {"type": "data", "channel": channel, "data": data}


def plain(frame: dict[str, Any]) -> dict[str, Any]:
    """A data frame without ``params`` (whether a subscription made without an ``id`` gets it
    is the protocol's extension rule, tested where that rule lives)."""
    return {k: v for k, v in frame.items() if k != "params"}


async def say(client: TestClient, channel: str, text: str) -> Any:
    """Call a ``say`` action that broadcasts to this client; return the data frame it got
    (queued before the action's reply, which is checked and dropped)."""
    await client.send_json({"type": "action", "channel": channel, "data": {"text": text}})
    frame = await client.receive_json()
    reply = await client.receive_json()
    assert reply["type"] == "action" and reply["status"] == "completed", reply
    return plain(frame)


async def test_a_broadcast_reaches_only_its_rooms_subscribers_with_the_concrete_name(
    serve: ServeFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with serve(chat_app()) as server, server.connect() as a, server.connect() as b:
        assert await a.subscribe("chat/42") == {"type": "subscribed", "channel": "chat/42"}
        assert await b.subscribe("chat/7") == {"type": "subscribed", "channel": "chat/7"}
        await a.send_json({"type": "action", "channel": "rooms/42/say", "data": {"text": "hi"}})
        frames = [plain(await a.receive_json()), await a.receive_json()]
        assert frames == [
            data_frame("chat/42", {"room": 42, "text": "hi"}),  # broadcast inside the action
            {"type": "action", "channel": "rooms/42/say", "status": "completed", "data": 42},
        ]
        await b.send_json({"type": "action", "channel": "rooms/7/say", "data": {"text": "yo"}})
        frames = [await b.receive_json(), await b.receive_json()]
        assert plain(frames[0]) == data_frame("chat/7", {"room": 7, "text": "yo"})  # not chat/42's
        # a got nothing of room 7: the next frame it gets is this reply.
        assert (await a.action("rooms/lobby/say", {"text": "-"}))["channel"] == "rooms/lobby/say"


async def test_a_subscription_made_with_an_id_carries_the_params_extension(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(chat_app()) as client:
        reply = await client.subscribe("chat/42", id=1)
        assert reply == {"type": "subscribed", "channel": "chat/42", "id": 1}
        await client.send_json({"type": "action", "channel": "rooms/42/say", "data": {"text": "x"}})
        frames = [await client.receive_json(), await client.receive_json()]
        assert {
            "type": "data",
            "channel": "chat/42",
            "data": {"room": 42, "text": "x"},
            "params": {"room_id": 42},
        } in frames


async def test_the_name_is_canonical_so_a_coerced_value_still_receives(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(chat_app()) as client:
        await client.subscribe("chat/042")  # room_id: int, so 042 is room 42
        assert await say(client, "rooms/42/say", "x") == data_frame(
            "chat/42", {"room": 42, "text": "x"}
        )


async def test_a_literal_name_wins_over_the_pattern(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(chat_app()) as client:
        await client.subscribe("chat/lobby")  # not room "lobby" (which would not validate)
        assert await say(client, "rooms/lobby/say", "x") == data_frame("chat/lobby", "lobby:x")


async def test_unsubscribing_the_concrete_name_removes_only_that_one(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(chat_app()) as client:
        await client.subscribe("chat/1")
        await client.subscribe("chat/2")
        assert await client.unsubscribe("chat/1") == {"type": "unsubscribed", "channel": "chat/1"}
        await client.action("rooms/1/say", {"text": "gone"})  # its reply is the next frame
        assert await say(client, "rooms/2/say", "here") == data_frame(
            "chat/2", {"room": 2, "text": "here"}
        )
        # An unsubscribe for a name that cannot be subscribed is answered, nothing else.
        assert await client.unsubscribe("chat/x") == {"type": "unsubscribed", "channel": "chat/x"}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"type": "subscribe", "channel": "chat/1/2"},
            {"type": "error", "message": "Channel 'chat/1/2' not found."},
        ),
        (
            {"type": "subscribe", "channel": "chat/"},
            {"type": "error", "message": "Channel 'chat/' not found."},
        ),
        (
            {"type": "action", "channel": "rooms/1/shout"},
            {"type": "error", "message": "Action 'rooms/1/shout' not found."},
        ),
    ],
)
async def test_a_name_no_pattern_matches_gets_the_usual_not_found(
    connect: ConnectFactory,
    autojump_clock: trio.abc.Clock,
    message: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    async with connect(chat_app()) as client:
        await client.send_json(message)
        reply = await client.receive_json()
        assert {k: reply[k] for k in expected} == expected


async def test_a_path_value_that_does_not_validate_is_an_invalid_parameters_error(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(chat_app()) as client:
        reply = await client.subscribe("chat/abc", id=1)
        assert reply["type"] == "error"
        assert reply["message"] == "Invalid parameters for action 'chat'"
        assert reply["errors"][0]["loc"] == ["room_id"]


async def test_the_name_wins_over_the_same_key_in_data(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(chat_app()) as client:
        reply = await client.action("rooms/5/say", {"room_id": 6, "text": "x"})
        assert reply["data"] == 5


async def test_broadcasting_a_value_with_a_slash_raises_and_sends_nothing(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    app = SocketAPI()
    ran = []

    @app.channel("files/{name}")
    async def files(name: str) -> str:
        ran.append(name)
        return name

    async with connect(app) as client:
        await client.subscribe("files/a")
        with pytest.raises(ValueError, match="cannot contain '/'"):
            await files(name="a/b")
        assert ran == ["a"]  # the subscribe's run only
        await files(name="a")
        assert plain(await client.receive_json()) == data_frame("files/a", "a")


async def test_path_and_other_subscribe_keys_combine(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    app = SocketAPI()

    @app.channel("chat/{room_id}")
    async def chat(
        room_id: str, lang: Annotated[str, RequiredOnSubscribe] = "en", text: str = ""
    ) -> str:
        return text

    async with connect(app) as client:
        await client.subscribe("chat/r", {"lang": "fr"})
        await chat(room_id="r", lang="en", text="hello")
        await chat(room_id="r", lang="fr", text="bonjour")
        assert plain(await client.receive_json()) == data_frame("chat/r", "bonjour")


async def test_literal_dispatch_never_consults_the_patterns(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = chat_app()
    from trio_socketapi._paths import PathPattern

    def refuse(self: PathPattern, name: str) -> None:
        raise AssertionError(f"pattern matched for {name!r}")

    async with connect(app) as client:
        monkeypatch.setattr(PathPattern, "match", refuse)
        assert (await client.action("rooms/lobby/say", {"text": "x"}))["data"] == "lobby"


async def test_a_history_channel_on_a_path_replays_under_the_concrete_name(
    connect: ConnectFactory, autojump_clock: trio.abc.Clock
) -> None:
    from trio_socketapi import History

    app = SocketAPI()

    @app.channel("chat/{room_id}", history=History(size=5, ttl=60))
    async def chat(room_id: str, text: str = "") -> str:
        return text

    async with connect(app) as client:
        first = await client.subscribe("chat/r", id=1)
        assert first["type"] == "subscribed" and first["offset"] == 0
        await chat(room_id="r", text="one")
        await chat(room_id="other", text="elsewhere")
        await chat(room_id="r", text="two")
        live = [await client.receive_json(), await client.receive_json()]
        assert [(f["channel"], f["data"]) for f in live] == [("chat/r", "one"), ("chat/r", "two")]
        await client.unsubscribe("chat/r")
        since = {"offset": 1, "epoch": first["epoch"]}
        await client.send_json({"type": "subscribe", "channel": "chat/r", "id": 2, "since": since})
        again = await client.receive_json()
        assert again["recovered"] is True
        replay = await client.receive_json()
        assert (replay["channel"], replay["data"], replay["offset"]) == ("chat/r", "two", 2)


async def test_presence_on_a_path_channel_joins_and_leaves_per_concrete_name(
    serve: ServeFactory, autojump_clock: trio.abc.Clock
) -> None:
    app = SocketAPI()

    @app.channel("chat/{room_id}", presence=True)
    async def chat(room_id: str, text: str = "") -> str:
        return text

    async with serve(app) as server, server.connect() as ann, server.connect() as bob:
        assert (await ann.subscribe("chat/a", id=1))["type"] == "subscribed"
        assert (await ann.receive_json())["type"] == "join"  # its own
        assert (await ann.subscribe("chat/b", id=2))["type"] == "subscribed"
        own = await ann.receive_json()
        assert (own["type"], own["channel"]) == ("join", "chat/b")
        assert (await bob.subscribe("chat/a", id=1))["type"] == "subscribed"
        assert (await bob.receive_json())["type"] == "join"  # its own
        assert (await ann.receive_json())["channel"] == "chat/a"  # bob joined room a
        assert await ann.unsubscribe("chat/b") == {"type": "unsubscribed", "channel": "chat/b"}
        assert len(await chat.presence(room_id="a")) == 2  # ann is still in room a
        assert await chat.presence(room_id="b") == {}
