"""Hostile and random input never crashes the server, never leaks a task, never drops silently.

Property (issue 5, item 4): every frame a client sends is answered by an error frame or by the
reply PROTOCOL.md prescribes, on a connection that stays open, which a final ``add`` proves by
returning the right sum; the only frames that may close the connection are those over
``max_message_size`` (1009) and invalid UTF-8 text frames (1007), never with 1011 and never by
dropping TCP without a close frame. After the server closes, no task, connection or subscription
is left.

The in-memory tests run each hypothesis example in its own ``trio.run`` under an autojump clock
(a sync ``@given`` test wrapping ``trio.run``), so timeouts cost no real time. Expected replies
come from ``expected_reply``, a small model of PROTOCOL.md written here, independently of the
package: it parses with Python's ``json`` and validates parameters with pydantic models of its
own. Clients that vanish without a close frame are tested over loopback TCP at the end.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Annotated, Any

import attrs
import pydantic
import pydantic_core
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, open_websocket

from trio_socketapi import RequiredOnSubscribe, Settings, SocketAPI
from trio_socketapi.testing import TestClient, client_frame, open_test_server, upgrade_request

MAX_MESSAGE_SIZE = 8192
FUZZ_SETTINGS = Settings(max_message_size=MAX_MESSAGE_SIZE)
EXAMPLE_TIMEOUT = 60.0
"""Virtual seconds (autojump clock) one hypothesis example may take."""
REASONED_CLOSE_CODES = frozenset({1003, 1007, 1008, 1009})
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INVALID_JSON = "Invalid JSON."
NOT_AN_OBJECT = "Message must be a JSON object."
INVALID_ID = "Message id must be a string or an integer."
REPLY_TYPES = frozenset({"error", "action", "subscribed", "unsubscribed", "published"})


# --- The app under fuzz, and the test's own model of its handlers' parameters ----------------


class Item(pydantic.BaseModel):
    name: str
    qty: int = 1
    price: float = 0.0
    tags: list[str] = []


def make_app() -> SocketAPI:
    """Actions with typed parameters of every common kind, a plain and a keyed channel."""
    app = SocketAPI()

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.action("echo")
    async def echo(value: Any = None) -> Any:
        return value

    @app.action("count")
    async def count(xs: list[int]) -> int:
        return len(xs)

    @app.action("greet")
    async def greet(name: str, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    @app.action("typed")
    async def typed(
        n: int, s: str, xs: list[int], item: Item, maybe: int | None = None, d: int = 7
    ) -> dict[str, Any]:
        return {"n": n, "s": s, "xs": xs, "item": item, "maybe": maybe, "d": d}

    @app.action("boom")
    async def boom() -> None:
        raise ValueError("boom")

    @app.channel("news")
    async def news(text: str = "") -> str:
        return text

    @app.channel("room", default_response=True)
    async def room(room: Annotated[str, RequiredOnSubscribe], message: str = "") -> dict[str, str]:
        return {"room": room, "message": message}

    return app


class AddParams(pydantic.BaseModel):
    a: int
    b: int


class EchoParams(pydantic.BaseModel):
    value: Any = None


class CountParams(pydantic.BaseModel):
    xs: list[int]


class GreetParams(pydantic.BaseModel):
    name: str
    punctuation: str = "!"


class TypedParams(pydantic.BaseModel):
    n: int
    s: str
    xs: list[int]
    item: Item
    maybe: int | None = None
    d: int = 7


class NoParams(pydantic.BaseModel):
    pass


class NewsParams(pydantic.BaseModel):
    text: str = ""


class RoomKey(pydantic.BaseModel):
    room: str


class RoomParams(pydantic.BaseModel):
    room: str
    message: str = ""


@attrs.frozen
class Oracle:
    """A handler as the test sees it: its function name, parameters and what it returns."""

    func_name: str
    params: type[pydantic.BaseModel]
    result: Callable[[Any], Any]


ACTIONS: dict[str, Oracle] = {
    "add": Oracle("add", AddParams, lambda p: p.a + p.b),
    "echo": Oracle("echo", EchoParams, lambda p: p.value),
    "count": Oracle("count", CountParams, lambda p: len(p.xs)),
    "greet": Oracle("greet", GreetParams, lambda p: f"hello {p.name}{p.punctuation}"),
    "typed": Oracle("typed", TypedParams, lambda p: p.model_dump(mode="json")),
    "boom": Oracle("boom", NoParams, lambda p: None),
}
CHANNELS: dict[str, tuple[type[pydantic.BaseModel], type[pydantic.BaseModel]]] = {
    # name: (subscription key model, full parameter model)
    "news": (NoParams, NewsParams),
    "room": (RoomKey, RoomParams),
}


# --- The expected reply: PROTOCOL.md as a function -------------------------------------------

ANY_ERROR = {"type": "error"}
"""Marker for "an error frame, any message" (a reply the protocol leaves open)."""


def normalise(value: Any) -> Any:
    """A value as the server's JSON shows it: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


def valid(model: type[pydantic.BaseModel], data: Any) -> pydantic.BaseModel | None:
    """``data`` validated against ``model``, or ``None`` when it does not validate."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError:
        return None


def serialisable(value: Any) -> bool:
    try:
        pydantic_core.to_json(value, inf_nan_mode="null")
    except (pydantic_core.PydanticSerializationError, ValueError):
        return False
    return True


def expected_reply(message: Any) -> dict[str, Any] | None:
    """The reply PROTOCOL.md prescribes for one parsed inbound message.

    Returns the frame (``errors`` omitted: its presence is checked separately), ``ANY_ERROR``
    when only an error frame is right, or ``None`` when any well-formed reply is.
    """
    if not isinstance(message, dict):
        return {"type": "error", "message": NOT_AN_OBJECT}
    message_id = message.get("id")
    if message_id is not None and (
        isinstance(message_id, bool) or not isinstance(message_id, str | int)
    ):
        return {"type": "error", "message": INVALID_ID}
    channel = message.get("channel")
    message_type = message.get("type")
    data = message.get("data")

    def error(text: str, *, name_channel: bool = True) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "error", "message": text}
        if message_id is not None:
            frame["id"] = message_id
            if name_channel and channel:
                frame["channel"] = channel
        return frame

    def reply(reply_type: str, **extra: Any) -> dict[str, Any]:
        frame = {"type": reply_type, "channel": channel, **extra}
        if message_id is not None:
            frame["id"] = message_id
        return frame

    def invalid(func_name: str) -> dict[str, Any]:
        return error(f"Invalid parameters for action '{func_name}'")

    if not message_type:
        return error("Message type is required.")
    if not channel:
        return error("Channel is required.", name_channel=False)
    if message_type not in ("action", "subscribe", "unsubscribe", "publish"):
        return error(f"Unknown message type: {message_type}.")
    name = channel if isinstance(channel, str) else None
    params = {} if data is None else data
    if message_type == "action":
        oracle = ACTIONS.get(name) if name else None
        if oracle is None:
            return error(f"Action '{channel}' not found.")
        validated = valid(oracle.params, params)
        if validated is None:
            return invalid(oracle.func_name)
        if name == "boom":
            return error("boom")
        result = oracle.result(validated)
        if not serialisable(result):
            return ANY_ERROR
        if result is None:
            return reply("action", status="completed")
        return reply("action", status="completed", data=result)
    models = CHANNELS.get(name) if name else None
    if message_type == "unsubscribe":
        keyed = models is not None and name == "room"
        if keyed and data is not None and data != {} and valid(models[0], data) is None:
            return invalid(name)
        return reply("unsubscribed")
    if models is None:
        return error(f"Channel '{channel}' not found.")
    if message_type == "subscribe":
        # Every parameter sent is validated, key or not (PROTOCOL.md, "Channels").
        if valid(models[1], params) is None:
            return invalid(name or "")
        return reply("subscribed")
    # publish: data present but not an object is an error (PROTOCOL.md, "Robust input").
    if valid(models[1], params) is None:
        return invalid(name or "")
    return reply("published")


DEPTH_LIMIT_FROM = 150
"""Nesting from which a parser may refuse a message as too deep (answered "Invalid JSON.")."""


def reference_parse(raw: str | bytes) -> Any:
    """Parse a frame as a strict JSON parser would; ``ValueError`` if it is not JSON.

    Lone surrogates (``"\\ud800"``) are not Unicode text, so they are refused here too.
    """
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    value = json.loads(text)
    if _has_lone_surrogate(value):
        raise ValueError("lone surrogate")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


def depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (iteratively: it may be very deep)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, list | dict):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def acceptable_replies(raw: str | bytes) -> list[dict[str, Any] | None]:
    """Every right reply to a raw frame (``None``: any well-formed reply)."""
    invalid_json = {"type": "error", "message": INVALID_JSON}
    try:
        message = reference_parse(raw)
    except (ValueError, RecursionError):
        return [invalid_json]
    expected = expected_reply(message)
    if depth(message) >= DEPTH_LIMIT_FROM:
        return [expected, invalid_json]
    return [expected]


# --- Probes: one frame to send and what may come back ----------------------------------------


@attrs.frozen
class Probe:
    """One frame a fuzzing client sends.

    ``payload`` goes out through trio-websocket (``str``: text frame, ``bytes``: binary frame);
    ``raw_frame``, when set, is written to the stream as is (frames trio-websocket cannot make).
    ``may_close`` lists the close codes that are a right answer; ``must_close`` means an answer
    is not.
    """

    payload: str | bytes
    raw_frame: bytes | None = None
    may_close: frozenset[int] = frozenset()
    must_close: bool = False

    def __repr__(self) -> str:  # keep hypothesis' falsifying examples readable
        shown = self.payload if len(self.payload) < 200 else self.payload[:200]
        return f"Probe({shown!r}, len={len(self.payload)}, may_close={sorted(self.may_close)})"


def frame_probe(payload: str | bytes) -> Probe:
    """A text or binary frame, with the close code its size allows.

    trio-websocket counts a text frame's size in characters, so a text frame over the limit in
    bytes but not in characters may be answered (see the xfail test on that below).
    """
    size = len(payload)
    encoded = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    if size > MAX_MESSAGE_SIZE:
        return Probe(payload, may_close=frozenset({1009}), must_close=True)
    if len(encoded) > MAX_MESSAGE_SIZE:
        return Probe(payload, may_close=frozenset({1009}))
    return Probe(payload)


def dumps(value: Any) -> str:
    """JSON text as a lenient client writes it: NaN and Infinity as bare tokens, and
    non-ASCII characters as themselves (UTF-8 on the wire), not as ``\\u`` escapes."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


# --- Strategies -------------------------------------------------------------------------------

huge_ints = st.builds(
    lambda digits, sign: sign * int("9" * digits),
    st.integers(min_value=19, max_value=4000),
    st.sampled_from([1, -1]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    huge_ints,
    st.floats(),  # NaN, Infinity and -Infinity included, written as bare tokens
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


deep_values = st.integers(min_value=150, max_value=260).map(nested)
# Real types and names twice over, so that half the envelopes get past the envelope checks.
real_types = st.sampled_from(["action", "subscribe", "unsubscribe", "publish"])
message_types = st.one_of(real_types, real_types, st.text(max_size=10), json_values)
real_names = st.sampled_from([*ACTIONS, *CHANNELS])
channels = st.one_of(real_names, real_names, st.text(max_size=10), json_values)
ids = st.one_of(
    st.integers(),
    huge_ints,
    st.text(max_size=6),
    st.booleans(),
    st.floats(),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
    st.lists(json_scalars, max_size=2),
)
datas = st.one_of(json_values, deep_values)
envelopes = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "type": message_types,
            "channel": channels,
            "data": datas,
            "id": ids,
            "token": json_scalars,
        },
    ),
    st.fixed_dictionaries(
        {"type": message_types, "channel": channels},
        optional={"data": datas, "id": ids},
    ),
)


def int_like() -> st.SearchStrategy[Any]:
    """Values an ``int`` parameter may receive: ints, numeric strings, floats, anything."""
    return st.one_of(
        st.integers(),
        huge_ints,
        st.integers(min_value=-1000, max_value=1000).map(str),
        st.floats(),
        st.booleans(),
        json_values,
    )


def str_like() -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=12), st.integers(), json_values)


def list_of_int_like() -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(st.integers(), max_size=5), st.lists(int_like(), max_size=3))


items = st.one_of(
    st.fixed_dictionaries(
        {"name": str_like()},
        optional={
            "qty": int_like(),
            "price": st.floats(),
            "tags": st.one_of(st.lists(st.text(max_size=4), max_size=3), json_values),
        },
    ),
    json_values,
)


def parameters(
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]],
    wild: dict[str, st.SearchStrategy[Any]],
) -> st.SearchStrategy[Any]:
    """``data`` for one handler: well-typed two times in three, else any key may be anything."""
    well_typed = st.fixed_dictionaries(required, optional=optional)
    return st.one_of(well_typed, well_typed, st.fixed_dictionaries({}, optional=wild))


good_ints = st.one_of(st.integers(), huge_ints)
good_items = st.fixed_dictionaries(
    {"name": st.text(max_size=8)},
    optional={
        "qty": st.integers(),
        "price": st.floats(),
        "tags": st.lists(st.text(max_size=4), max_size=3),
    },
)
typed_data: dict[str, st.SearchStrategy[Any]] = {
    "add": parameters({"a": good_ints, "b": good_ints}, {}, {"a": int_like(), "b": int_like()}),
    "echo": parameters({}, {"value": datas}, {"value": datas}),
    "count": parameters(
        {"xs": st.lists(st.integers(), max_size=5)}, {}, {"xs": list_of_int_like()}
    ),
    "greet": parameters(
        {"name": st.text(max_size=8)},
        {"punctuation": st.text(max_size=2)},
        {"name": str_like(), "punctuation": str_like()},
    ),
    "typed": parameters(
        {
            "n": good_ints,
            "s": st.text(max_size=8),
            "xs": st.lists(good_ints, max_size=4),
            "item": good_items,
        },
        {"maybe": st.one_of(st.none(), st.integers()), "d": st.integers()},
        {
            "n": int_like(),
            "s": str_like(),
            "xs": list_of_int_like(),
            "item": items,
            "maybe": st.one_of(st.none(), int_like()),
            "d": int_like(),
        },
    ),
    "boom": parameters({}, {}, {"x": json_values}),
    "news": parameters({}, {"text": st.text(max_size=8)}, {"text": str_like()}),
    "room": parameters(
        {"room": st.sampled_from(["a", "b"])},
        {"message": st.text(max_size=8)},
        {"room": str_like(), "message": str_like()},
    ),
}


KNOWN = frozenset({"subscribe", "unsubscribe", "publish"})


@st.composite
def typed_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed envelope whose ``data`` is random against a real handler's parameters."""
    message_type = draw(st.sampled_from(["action", "action", *sorted(KNOWN)]))
    channel = draw(st.sampled_from(sorted(ACTIONS if message_type == "action" else CHANNELS)))
    message: dict[str, Any] = {"type": message_type, "channel": channel}
    data = draw(st.one_of(typed_data[channel], st.none(), json_values))
    if data is not None or draw(st.booleans()):
        message["data"] = data
    if draw(st.booleans()):
        message["id"] = draw(st.one_of(st.integers(), st.text(max_size=4)))
    return message


def as_frame(value: Any, binary: bool) -> Probe:
    text = dumps(value)
    return frame_probe(text.encode("utf-8") if binary else text)


text_probes = st.builds(as_frame, st.one_of(envelopes, json_values), st.booleans())
typed_probes = st.builds(as_frame, typed_messages(), st.booleans())
random_text_probes = st.one_of(
    st.text(max_size=40),
    st.builds(lambda v, junk: dumps(v) + junk, json_values, st.sampled_from([",", "}", "x"])),
    st.sampled_from(["", " ", "NaN", "-Infinity", "{", '{"type":', "[1,]", "{'a': 1}", "nul"]),
    # Out of range for any JSON parser that keeps integers exact.
    st.integers(min_value=4301, max_value=6000).map(lambda n: "1" * n),
    # Surrogate escapes: valid JSON syntax that is not Unicode text.
    st.sampled_from(
        [
            '"\\ud800"',
            '{"type":"action","channel":"echo","data":{"value":"\\udfff"}}',
            '{"type":"\\ud83d","channel":"echo"}',
            '{"type":"action","channel":"echo","data":{"value":"\\ud83d\\ude00"}}',
        ]
    ),
).map(frame_probe)
binary_probes = st.one_of(
    st.binary(max_size=64),
    # Invalid UTF-8 around valid JSON: overlong forms, lone continuation and surrogate bytes.
    st.builds(
        lambda bad: b'{"type":"action","channel":"echo","data":{"value":"' + bad + b'"}}',
        st.sampled_from([b"\xff", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]),
    ),
).map(frame_probe)
huge_channel_probes = st.builds(
    lambda size, char, message_type, binary: as_frame(
        {"type": message_type, "channel": char * size}, binary
    ),
    st.integers(min_value=1000, max_value=MAX_MESSAGE_SIZE + 200),
    st.sampled_from(["c", "é", "€", "𝄞"]),
    st.sampled_from(["action", "subscribe", "unsubscribe", "publish"]),
    st.booleans(),
)


@st.composite
def fragmented_probes(draw: st.DrawFn) -> Probe:
    """A message split into fragments (cut anywhere, even inside a UTF-8 character), with pings
    between them: the server answers it as if it had come whole."""
    text = dumps(draw(st.one_of(typed_messages(), envelopes)))
    encoded = text.encode("utf-8")
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(encoded) - 1)), max_size=4)))
    pieces = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    frames = []
    for index, piece in enumerate(pieces):
        opcode = 0x1 if index == 0 else 0x0  # text, then continuations
        frames.append(client_frame(opcode, piece, fin=index == len(pieces) - 1))
        if index < len(pieces) - 1 and draw(st.booleans()):
            frames.append(client_frame(0x9, draw(st.binary(max_size=125))))  # a ping
    return attrs.evolve(frame_probe(text), raw_frame=b"".join(frames))


any_probes = st.one_of(
    text_probes,
    typed_probes,
    random_text_probes,
    binary_probes,
    huge_channel_probes,
    fragmented_probes(),
)


# --- Running probes against an in-memory server ----------------------------------------------


def task_tree() -> list[str]:
    """Names of every task now running, from the root down."""
    names = []
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        names.append(task.name)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return sorted(names)


async def next_reply(client: TestClient) -> Any:
    """The next frame that is not a broadcast ``data`` frame (those may come in between)."""
    while True:
        frame = await client.receive_json()
        if not (isinstance(frame, dict) and frame.get("type") == "data"):
            return frame
        assert frame.get("channel") in CHANNELS, frame


def check_reply(probe: Probe, frame: Any) -> None:
    assert not probe.must_close, f"{probe!r} over the size limit was answered: {frame!r}"
    assert isinstance(frame, dict), frame
    assert frame.get("type") in REPLY_TYPES, frame
    if frame["type"] == "error":
        assert isinstance(frame.get("message"), str), frame
        assert set(frame) <= {"type", "message", "id", "channel", "errors"}, frame
    if "errors" in frame:
        assert "id" in frame and isinstance(frame["errors"], list), frame
        frame = {k: v for k, v in frame.items() if k != "errors"}
    acceptable = acceptable_replies(probe.payload)
    if None in acceptable:
        return
    if ANY_ERROR in acceptable and frame["type"] == "error":
        return
    assert frame in [normalise(expected) for expected in acceptable]


async def exercise(probes: list[Probe], final: int) -> None:
    """Send every probe, check each answer, prove the last connection alive, close, check."""
    app = make_app()
    tasks_before = task_tree()
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with open_test_server(app, settings=FUZZ_SETTINGS) as server:
            hub = server._server.hub
            async with AsyncExitStack() as clients:
                client = await clients.enter_async_context(server.connect())
                for probe in probes:
                    if probe.raw_frame is not None:
                        await client.send_raw(probe.raw_frame)
                    elif isinstance(probe.payload, str):
                        await client.send_text(probe.payload)
                    else:
                        await client.send_bytes(probe.payload)
                    try:
                        frame = await next_reply(client)
                    except ConnectionClosed as closed:
                        reason = closed.reason
                        assert reason is not None
                        assert reason.code in probe.may_close, f"{probe!r} closed with {reason}"
                        assert reason.code in REASONED_CLOSE_CODES
                        client = await clients.enter_async_context(server.connect())
                    else:
                        check_reply(probe, frame)
                await client.send_json({"type": "action", "channel": "add", "data": {"a": final}})
                assert await next_reply(client) == {
                    "type": "error",
                    "message": "Invalid parameters for action 'add'",
                }
                await client.send_json(
                    {"type": "action", "channel": "add", "data": {"a": final, "b": 1}}
                )
                assert await next_reply(client) == {
                    "type": "action",
                    "channel": "add",
                    "status": "completed",
                    "data": final + 1,
                }
        assert task_tree() == tasks_before
    assert app.counters.connections_open == 0
    assert app.counters.subscriptions == 0
    assert hub.subscriber_count("news") == hub.subscriber_count("room") == 0
    assert not hub._by_subscriber and not hub._channels


def run_probes(probes: list[Probe], final: int = 41) -> None:
    trio.run(exercise, probes, final, clock=trio.testing.MockClock(autojump_threshold=0))


finals = st.integers(min_value=-(2**70), max_value=2**70)


@FUZZ
@given(st.lists(text_probes, min_size=1, max_size=8), finals)
def test_random_json_and_envelopes_get_the_protocol_reply(probes: list[Probe], final: int) -> None:
    run_probes(probes, final)


@FUZZ
@given(st.lists(typed_probes, min_size=1, max_size=8), finals)
def test_random_data_against_typed_handlers_is_validated_or_refused(
    probes: list[Probe], final: int
) -> None:
    run_probes(probes, final)


@FUZZ
@given(st.lists(random_text_probes, min_size=1, max_size=6))
def test_text_that_is_not_json_or_not_unicode_gets_invalid_json(probes: list[Probe]) -> None:
    run_probes(probes)


@FUZZ
@given(st.lists(binary_probes, min_size=1, max_size=6))
def test_random_binary_frames_and_invalid_utf8_get_an_error_frame(probes: list[Probe]) -> None:
    run_probes(probes)


@FUZZ
@given(st.lists(fragmented_probes(), min_size=1, max_size=6))
def test_fragmented_messages_with_pings_between_are_answered_whole(probes: list[Probe]) -> None:
    run_probes(probes)


@settings(FUZZ, max_examples=25)
@given(st.lists(huge_channel_probes, min_size=1, max_size=4))
def test_huge_channel_names_are_answered_or_closed_1009(probes: list[Probe]) -> None:
    run_probes(probes)


@settings(FUZZ, max_examples=40)
@given(st.lists(any_probes, min_size=1, max_size=12), finals)
def test_any_mix_of_hostile_frames_leaves_the_server_serving(
    probes: list[Probe], final: int
) -> None:
    run_probes(probes, final)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("nan"), id="NaN"),
        pytest.param(float("inf"), id="Infinity"),
        pytest.param(-float("inf"), id="-Infinity"),
        pytest.param(int("9" * 4000), id="4000-digit-int"),
        pytest.param(nested(190), id="nesting-190"),
    ],
)
def test_edge_values_are_echoed_as_valid_json(value: Any) -> None:
    run_probes(
        [frame_probe(dumps({"type": "action", "channel": "echo", "data": {"value": value}}))]
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a":[' * 2500 + "1" + "]}" * 2500, id="nesting-5000"),
        pytest.param("[" * 100_000, id="100k-open-brackets"),
        pytest.param("1" * 5000, id="5000-digit-int"),
        pytest.param('{"type":"action","channel":"echo","data":{"value":"\\ud800"}}', id="surr"),
    ],
)
def test_pathological_json_gets_invalid_json_or_1009(text: str) -> None:
    run_probes([frame_probe(text)])


# --- Frames the WebSocket layer refuses: a close frame with a reason, never a bare drop -------

INVALID_UTF8_TEXT = [
    pytest.param(b"\xff", id="0xff"),
    pytest.param(b'{"type":"action","channel":"\xc0\xaf"}', id="overlong"),
    pytest.param(b'{"type":"action","channel":"\xed\xa0\x80"}', id="surrogate-bytes"),
    pytest.param(b'"\xf4\x90\x80\x80"', id="beyond-U+10FFFF"),
]


async def close_code_after_raw(frame: bytes) -> tuple[int | None, object]:
    """Write ``frame`` on a fresh in-memory connection. Returns the close code the client then
    sees (``None`` if the server answered instead of closing) and the answer another client got
    meanwhile to ``add(1, 2)``."""
    app = make_app()
    code: int | None = None
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with (
            open_test_server(app, settings=FUZZ_SETTINGS) as server,
            server.connect() as other,
        ):
            async with server.connect() as client:
                await client.send_raw(frame)
                try:
                    await client.receive_json()
                except ConnectionClosed as closed:
                    assert closed.reason is not None
                    code = closed.reason.code
            other_reply = await other.action("add", {"a": 1, "b": 2})
    assert app.counters.connections_open == 0
    return code, other_reply.get("data")


@pytest.mark.parametrize("payload", INVALID_UTF8_TEXT)
def test_invalid_utf8_text_frame_is_closed_1007(payload: bytes) -> None:
    code, other = trio.run(
        close_code_after_raw,
        client_frame(0x1, payload),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert other == 3
    assert code == 1007


@pytest.mark.parametrize("payload", INVALID_UTF8_TEXT)
def test_invalid_utf8_text_frame_never_crashes_the_server(payload: bytes) -> None:
    code, other = trio.run(
        close_code_after_raw,
        client_frame(0x1, payload),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert other == 3  # the other client is served
    assert code != 1011


PROTOCOL_VIOLATIONS = [
    pytest.param(b"\x81\x05hello", id="unmasked"),
    pytest.param(client_frame(0x3, b"{}"), id="reserved-opcode"),
    pytest.param(b"\xc1" + client_frame(0x1, b"{}")[1:], id="rsv1-without-extension"),
    pytest.param(client_frame(0x9, b"p" * 126), id="ping-over-125-bytes"),
    pytest.param(client_frame(0x9, b"p", fin=False), id="fragmented-ping"),
    pytest.param(client_frame(0x0, b"{}"), id="continuation-without-start"),
    pytest.param(client_frame(0x1, b"{", fin=False) + client_frame(0x1, b"}"), id="new-mid-msg"),
    pytest.param(client_frame(0x8, struct.pack("!H", 999)), id="close-code-999"),
]


@pytest.mark.parametrize("frame", PROTOCOL_VIOLATIONS)
def test_websocket_protocol_violations_never_crash_the_server(frame: bytes) -> None:
    code, other = trio.run(
        close_code_after_raw, frame, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    assert other == 3  # the other client is served
    assert code != 1011


@pytest.mark.parametrize("frame", PROTOCOL_VIOLATIONS)
def test_websocket_protocol_violation_is_closed_1002(frame: bytes) -> None:
    code, _ = trio.run(
        close_code_after_raw, frame, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    assert code == 1002


def test_text_frame_over_the_limit_in_bytes_is_closed_1009() -> None:
    text = dumps({"type": "action", "channel": "echo", "data": {"value": "€" * 3000}})
    assert len(text) < MAX_MESSAGE_SIZE < len(text.encode("utf-8"))
    code, _ = trio.run(
        close_code_after_raw,
        client_frame(0x1, text.encode("utf-8")),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    assert code == 1009


@pytest.mark.parametrize("data", [0, "", [], False, 0.0])
def test_publish_with_data_that_is_not_an_object_is_refused(data: Any) -> None:
    async def body() -> None:
        app = make_app()
        with trio.fail_after(EXAMPLE_TIMEOUT):
            async with open_test_server(app) as server, server.connect() as client:
                reply = await client.request("publish", "news", data)
        assert reply == {"type": "error", "message": "Invalid parameters for action 'news'"}

    trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))


# --- Clients that vanish without a close frame (loopback TCP) ---------------------------------


class RawClient:
    """A WebSocket client written by hand on a plain socket, so it can vanish abruptly."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        await sock.connect(("127.0.0.1", port))
        client = cls(sock)
        await client.send_raw(upgrade_request(host=f"127.0.0.1:{port}"))
        head = await client._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return client

    async def send_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = await self.sock.send(view)
            view = view[sent:]

    async def send_json(self, message: Any) -> None:
        await self.send_raw(client_frame(0x1, json.dumps(message).encode()))

    async def receive_json(self) -> Any:
        """One unfragmented server text frame (servers never mask)."""
        first, second = await self._read_exactly(2)
        assert first == 0x81, hex(first)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self._read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self._read_exactly(8))
        return json.loads(await self._read_exactly(size))

    def vanish(self, how: str) -> None:
        """Leave without a close frame: ``"reset"`` sends a TCP RST, ``"fin"`` a plain FIN."""
        if how == "reset":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = await self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = await self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head


async def wait_until(predicate: Callable[[], bool]) -> None:
    # Polls a server-side counter; callers bound it with fail_after.
    while not predicate():  # noqa: ASYNC110
        await trio.sleep(0.005)


@pytest.mark.parametrize(
    "how",
    ["reset", "fin", "reset-mid-frame", "reset-mid-handshake"],
)
async def test_client_vanishing_without_close_frame_is_cleaned_up_and_others_served(
    how: str,
) -> None:
    app = make_app()
    app.host = "127.0.0.1"
    news = app._registry.channels["news"]
    received: list[int] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            async with open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, message_queue_size=1024
            ) as observer:
                await observer.send_message(json.dumps({"type": "subscribe", "channel": "news"}))
                assert json.loads(await observer.get_message())["type"] == "subscribed"

                async def read_observer() -> None:
                    while len(received) < 200:
                        frame = json.loads(await observer.get_message())
                        if frame["type"] == "data":
                            received.append(int(frame["data"]))

                async def broadcast() -> None:
                    for number in range(200):
                        await news(text=str(number))
                        await trio.sleep(0.002)

                async with trio.open_nursery() as traffic:
                    traffic.start_soon(read_observer)
                    traffic.start_soon(broadcast)
                    if how == "reset-mid-handshake":
                        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        await sock.connect(("127.0.0.1", port))
                        await sock.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg")
                        await trio.sleep(0.05)
                        RawClient(sock).vanish("reset")
                    else:
                        client = await RawClient.connect(port)
                        await client.send_json({"type": "subscribe", "channel": "news"})
                        while (await client.receive_json())["type"] != "subscribed":
                            pass
                        await client.send_json(
                            {"type": "subscribe", "channel": "room", "data": {"room": "r"}}
                        )
                        await wait_until(lambda: app.counters.subscriptions == 3)
                        await trio.sleep(0.05)  # broadcasts are flowing to it now
                        if how == "reset-mid-frame":
                            await client.send_raw(client_frame(0x1, b"x" * 300)[:40])
                        client.vanish("fin" if how == "fin" else "reset")
                    await wait_until(
                        lambda: (
                            app.counters.connections_open == 1 and app.counters.subscriptions == 1
                        )
                    )
                # The observer is served as before: an action, and every broadcast in order.
                await observer.send_message(
                    json.dumps({"type": "action", "channel": "add", "data": {"a": 2, "b": 3}})
                )
                assert json.loads(await observer.get_message())["data"] == 5
            nursery.cancel_scope.cancel()
    assert received == list(range(200))
    assert app.counters.connections_open == 0
    assert app.counters.subscriptions == 0
    assert app.counters.slow_consumer_closes == 0
