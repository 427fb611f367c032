"""The pure protocol layer: ``parse_inbound`` and the ``encode_*`` functions, no trio.

Each table is a PROTOCOL.md table, row for row, as (input frame, expected reply). Replies are
compared whole, as parsed JSON, so a missing or extra key fails the row.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pydantic
import pytest

from trio_socketapi._protocol import (
    CLOSE_REASONS,
    CloseCode,
    Inbound,
    ProtocolError,
    encode_action_result,
    encode_data,
    encode_error,
    encode_reply,
    parse_inbound,
    to_json,
)


def error_reply(raw: str | bytes) -> Any:
    """The error frame ``parse_inbound`` answers ``raw`` with, parsed."""
    with pytest.raises(ProtocolError) as caught:
        parse_inbound(raw)
    return json.loads(caught.value.encode())


def strict_json(encoded: bytes) -> Any:
    """Parse ``encoded`` as standard JSON: no NaN/Infinity, UTF-8 only."""

    def reject(constant: str) -> None:
        raise AssertionError(f"not standard JSON: {constant}")

    return json.loads(encoded.decode("utf-8"), parse_constant=reject)


# PROTOCOL.md "Inbound envelope", checks in order, plus "Robust input" rows for the text layer.
ENVELOPE_ERRORS = [
    # Robust input: not JSON at all.
    pytest.param("", "Invalid JSON.", id="empty-text"),
    pytest.param("not json", "Invalid JSON.", id="plain-text"),
    pytest.param('{"type": "action", ', "Invalid JSON.", id="truncated-object"),
    pytest.param("{'type': 'action'}", "Invalid JSON.", id="single-quotes"),
    pytest.param(b"\xff\xfe\xfd", "Invalid JSON.", id="binary-not-utf8"),
    pytest.param(b'{"type": "\xff"}', "Invalid JSON.", id="binary-bad-utf8-inside-string"),
    # Robust input: JSON but not an object.
    pytest.param("[]", "Message must be a JSON object.", id="list"),
    pytest.param('[{"type": "action"}]', "Message must be a JSON object.", id="list-of-object"),
    pytest.param('"action"', "Message must be a JSON object.", id="string"),
    pytest.param("42", "Message must be a JSON object.", id="number"),
    pytest.param("null", "Message must be a JSON object.", id="null"),
    pytest.param("true", "Message must be a JSON object.", id="boolean"),
    # Row 1: no type (missing or empty) -- checked before the channel.
    pytest.param("{}", "Message type is required.", id="empty-object"),
    pytest.param('{"channel": "add"}', "Message type is required.", id="type-missing"),
    pytest.param('{"type": "", "channel": "add"}', "Message type is required.", id="type-empty"),
    pytest.param('{"type": null, "channel": "add"}', "Message type is required.", id="type-null"),
    pytest.param('{"type": false, "channel": "add"}', "Message type is required.", id="type-false"),
    pytest.param('{"type": ""}', "Message type is required.", id="type-before-channel"),
    pytest.param('{"data": {"a": 1}}', "Message type is required.", id="data-only"),
    # Row 2: no channel (missing or empty) -- checked before the type is looked up.
    pytest.param('{"type": "action"}', "Channel is required.", id="channel-missing"),
    pytest.param('{"type": "action", "channel": ""}', "Channel is required.", id="channel-empty"),
    pytest.param('{"type": "action", "channel": null}', "Channel is required.", id="channel-null"),
    pytest.param('{"type": "action", "channel": 0}', "Channel is required.", id="channel-zero"),
    pytest.param(
        '{"type": "action", "channel": {}}', "Channel is required.", id="channel-empty-obj"
    ),
    pytest.param('{"type": "bogus"}', "Channel is required.", id="channel-before-unknown-type"),
    # Row 3: unknown type, named as sent.
    pytest.param(
        '{"type": "bogus", "channel": "add"}', "Unknown message type: bogus.", id="unknown-type"
    ),
    pytest.param(
        '{"type": "Action", "channel": "add"}', "Unknown message type: Action.", id="type-is-exact"
    ),
    pytest.param(
        '{"type": "data", "channel": "chat"}',
        "Unknown message type: data.",
        id="server-type-data",
    ),
    pytest.param(
        '{"type": "subscribed", "channel": "chat"}',
        "Unknown message type: subscribed.",
        id="server-type-subscribed",
    ),
    pytest.param('{"type": 5, "channel": "add"}', "Unknown message type: 5.", id="type-number"),
]


@pytest.mark.parametrize(("raw", "message"), ENVELOPE_ERRORS)
def test_envelope_errors_are_core_error_frames(raw: str | bytes, message: str) -> None:
    assert error_reply(raw) == {"type": "error", "message": message}


@pytest.mark.parametrize("raw_id", ["true", "false", "1.5", "[]", "{}", '["a"]'])
def test_an_id_that_is_not_a_string_or_integer_is_refused(raw_id: str) -> None:
    raw = f'{{"type": "action", "channel": "add", "id": {raw_id}}}'
    assert error_reply(raw) == {
        "type": "error",
        "message": "Message id must be a string or an integer.",
    }


ID_ENVELOPE_ERRORS = [
    pytest.param(
        '{"channel": "add", "id": 1}',
        {"type": "error", "message": "Message type is required.", "id": 1, "channel": "add"},
        id="type-missing-names-channel",
    ),
    pytest.param(
        '{"type": "action", "id": "r1"}',
        {"type": "error", "message": "Channel is required.", "id": "r1"},
        id="channel-missing-no-channel-key",
    ),
    pytest.param(
        '{"type": "action", "channel": "", "id": "r1"}',
        {"type": "error", "message": "Channel is required.", "id": "r1"},
        id="channel-empty-no-channel-key",
    ),
    pytest.param(
        '{"type": "bogus", "channel": "add", "id": 7}',
        {"type": "error", "message": "Unknown message type: bogus.", "id": 7, "channel": "add"},
        id="unknown-type",
    ),
    pytest.param(
        '{"channel": "add", "id": 0}',
        {"type": "error", "message": "Message type is required.", "id": 0, "channel": "add"},
        id="falsy-integer-id",
    ),
    pytest.param(
        '{"channel": "add", "id": ""}',
        {"type": "error", "message": "Message type is required.", "id": "", "channel": "add"},
        id="empty-string-id",
    ),
]


@pytest.mark.parametrize(("raw", "reply"), ID_ENVELOPE_ERRORS)
def test_envelope_errors_for_a_message_with_an_id_echo_it(raw: str, reply: dict[str, Any]) -> None:
    assert error_reply(raw) == reply


WELL_FORMED = [
    pytest.param(
        '{"type": "action", "channel": "add", "data": {"a": 1, "b": 2}}',
        Inbound(type="action", channel="add", data={"a": 1, "b": 2}, id=None),
        id="action",
    ),
    pytest.param(
        '{"type": "action", "channel": "noop"}',
        Inbound(type="action", channel="noop", data=None, id=None),
        id="data-absent",
    ),
    pytest.param(
        '{"type": "action", "channel": "noop", "data": null}',
        Inbound(type="action", channel="noop", data=None, id=None),
        id="data-null",
    ),
    pytest.param(
        '{"type": "subscribe", "channel": "chat", "data": {"room": "a"}}',
        Inbound(type="subscribe", channel="chat", data={"room": "a"}, id=None),
        id="subscribe",
    ),
    pytest.param(
        '{"type": "unsubscribe", "channel": "chat"}',
        Inbound(type="unsubscribe", channel="chat", data=None, id=None),
        id="unsubscribe",
    ),
    pytest.param(
        '{"type": "publish", "channel": "chat", "data": {}, "token": "t"}',
        Inbound(type="publish", channel="chat", data={}, id=None, token="t"),
        id="publish-with-token",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": "r1"}',
        Inbound(type="action", channel="add", data=None, id="r1"),
        id="string-id",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": 12}',
        Inbound(type="action", channel="add", data=None, id=12),
        id="integer-id",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": 0}',
        Inbound(type="action", channel="add", data=None, id=0),
        id="zero-id",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "id": null}',
        Inbound(type="action", channel="add", data=None, id=None),
        id="null-id-is-no-id",
    ),
    pytest.param(
        '{"type": "action", "channel": "add", "data": [1], "extra": true}',
        Inbound(type="action", channel="add", data=[1], id=None),
        id="wrong-data-type-left-to-the-handler",
    ),
    pytest.param(
        b'{"type": "action", "channel": "add"}',
        Inbound(type="action", channel="add", data=None, id=None),
        id="bytes",
    ),
    pytest.param(
        '{"type": "action", "channel": "caf\u00e9"}',
        Inbound(type="action", channel="caf\u00e9", data=None, id=None),
        id="non-ascii-channel",
    ),
]


@pytest.mark.parametrize(("raw", "inbound"), WELL_FORMED)
def test_well_formed_messages_parse(raw: str | bytes, inbound: Inbound) -> None:
    assert parse_inbound(raw) == inbound


ERROR_FRAMES = [
    pytest.param(
        encode_error("boom"),
        {"type": "error", "message": "boom"},
        id="core-shape",
    ),
    pytest.param(
        encode_error("boom", channel="add", errors=[{"loc": ["a"], "msg": "m", "type": "t"}]),
        {"type": "error", "message": "boom"},
        id="no-id-keeps-core-shape",
    ),
    pytest.param(
        encode_error("boom", id="r1", channel="add"),
        {"type": "error", "message": "boom", "id": "r1", "channel": "add"},
        id="id-and-channel",
    ),
    pytest.param(
        encode_error("boom", id=3),
        {"type": "error", "message": "boom", "id": 3},
        id="id-without-channel",
    ),
    pytest.param(
        encode_error("bad", id=0, channel="add", errors=[{"loc": ["a"], "msg": "m", "type": "t"}]),
        {
            "type": "error",
            "message": "bad",
            "id": 0,
            "channel": "add",
            "errors": [{"loc": ["a"], "msg": "m", "type": "t"}],
        },
        id="id-with-errors",
    ),
]

REPLY_FRAMES = [
    pytest.param(
        encode_reply("subscribed", "chat"),
        {"type": "subscribed", "channel": "chat"},
        id="subscribed",
    ),
    pytest.param(
        encode_reply("unsubscribed", "chat", id="u"),
        {"type": "unsubscribed", "channel": "chat", "id": "u"},
        id="unsubscribed-with-id",
    ),
    pytest.param(
        encode_reply("published", "chat", id=0),
        {"type": "published", "channel": "chat", "id": 0},
        id="published-zero-id",
    ),
]

ACTION_FRAMES = [
    pytest.param(
        encode_action_result("add", 3),
        {"type": "action", "channel": "add", "status": "completed", "data": 3},
        id="result",
    ),
    pytest.param(
        encode_action_result("noop", None),
        {"type": "action", "channel": "noop", "status": "completed"},
        id="none-has-no-data-key",
    ),
    *(
        pytest.param(
            encode_action_result("echo", falsy),
            {"type": "action", "channel": "echo", "status": "completed", "data": falsy},
            id=f"falsy-{falsy!r}",
        )
        for falsy in (0, "", [], {}, False, 0.0)
    ),
    pytest.param(
        encode_action_result("add", 3, id="r1"),
        {"type": "action", "channel": "add", "status": "completed", "data": 3, "id": "r1"},
        id="with-id",
    ),
    pytest.param(
        encode_action_result("noop", None, id=9),
        {"type": "action", "channel": "noop", "status": "completed", "id": 9},
        id="none-with-id",
    ),
]

DATA_FRAMES = [
    pytest.param(
        encode_data(b'"chat"', b'{"text":"hi"}', None),
        {"type": "data", "channel": "chat", "data": {"text": "hi"}},
        id="unkeyed",
    ),
    pytest.param(
        encode_data(b'"chat"', None, None),
        {"type": "data", "channel": "chat"},
        id="none-has-no-data-key",
    ),
    pytest.param(
        encode_data(b'"chat"', b"0", None),
        {"type": "data", "channel": "chat", "data": 0},
        id="falsy-data-sent",
    ),
    pytest.param(
        encode_data(b'"room"', b'"m"', b'{"room_id":"a"}'),
        {"type": "data", "channel": "room", "data": "m", "params": {"room_id": "a"}},
        id="keyed-has-params",
    ),
]


@pytest.mark.parametrize(
    ("encoded", "frame"), [*ERROR_FRAMES, *REPLY_FRAMES, *ACTION_FRAMES, *DATA_FRAMES]
)
def test_encoded_frames(encoded: bytes, frame: dict[str, Any]) -> None:
    assert strict_json(encoded) == frame


class Point(pydantic.BaseModel):
    x: int
    y: int


class Event(pydantic.BaseModel):
    at: datetime.datetime
    ref: uuid.UUID


class Aliased(pydantic.BaseModel):
    user_id: int = pydantic.Field(alias="userId")


MOMENT = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")

PYDANTIC_JSON = [
    pytest.param(Point(x=1, y=2), {"x": 1, "y": 2}, id="model"),
    pytest.param(
        [Point(x=1, y=2), Point(x=3, y=4)], [{"x": 1, "y": 2}, {"x": 3, "y": 4}], id="list"
    ),
    pytest.param({"p": Point(x=0, y=0)}, {"p": {"x": 0, "y": 0}}, id="dict-of-model"),
    pytest.param(MOMENT, "2024-01-02T03:04:05Z", id="datetime"),
    pytest.param(datetime.date(2024, 1, 2), "2024-01-02", id="date"),
    pytest.param(REF, "12345678-1234-5678-1234-567812345678", id="uuid"),
    pytest.param(
        Event(at=MOMENT, ref=REF),
        {"at": "2024-01-02T03:04:05Z", "ref": "12345678-1234-5678-1234-567812345678"},
        id="model-of-datetime-and-uuid",
    ),
    pytest.param((1, "a"), [1, "a"], id="tuple"),
    pytest.param(float("nan"), None, id="nan-becomes-null"),
    pytest.param([float("inf"), float("-inf")], [None, None], id="infinities-become-null"),
    pytest.param(10**40, 10**40, id="huge-integer"),
    pytest.param("caf\u00e9 \u2603", "caf\u00e9 \u2603", id="unicode"),
    pytest.param(
        Aliased(userId=1),
        {"user_id": 1},
        id="aliased-model-uses-field-names",
    ),
]


@pytest.mark.parametrize(("value", "json_form"), PYDANTIC_JSON)
def test_results_are_sent_in_pydantic_json_form(value: Any, json_form: Any) -> None:
    assert strict_json(to_json(value)) == json_form


def test_every_close_code_has_a_reason() -> None:
    assert set(CLOSE_REASONS) == set(CloseCode)
    assert (CloseCode.GOING_AWAY, CloseCode.MESSAGE_TOO_BIG, CloseCode.TRY_AGAIN_LATER) == (
        1001,
        1009,
        1013,
    )
