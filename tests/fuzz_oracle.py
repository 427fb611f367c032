"""The fuzz tests' oracle: the app under fuzz and PROTOCOL.md as a function of the input.

``make_app`` is the app every fuzz test serves. ``expected_reply`` says what the protocol makes
of one message, independently of the package: it parses with Python's ``json`` and validates
parameters with pydantic models of its own (``ACTIONS``, ``CHANNELS``). A ``Probe`` is one frame
to send with the close codes that may answer it. Used by ``fuzz_strategies.py`` and
``test_fuzz.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Annotated, Any

import attrs
import pydantic
import pydantic_core
from hypothesis import HealthCheck, settings

from trio_socketapi import RequiredOnSubscribe, Settings, SocketAPI

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
