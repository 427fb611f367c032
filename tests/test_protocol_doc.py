"""docs/protocol.md against the code, table by table.

The page's tables are read here: each row of "Inbound envelope" and "Robust input" is a
(frame sent, reply) row run against a served app, "Close codes" must be ``CLOSE_REASONS`` and
"Error texts" must be ``ERROR_TEXTS``; every error text has a row below that makes the server
send it. A row added to a table fails here until it has its sample.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from helpers import error

from trio_socketapi import ClientError, Settings, SocketAPI
from trio_socketapi._dispatch import Dispatcher
from trio_socketapi._hub import Hub
from trio_socketapi._protocol import (
    CLOSE_REASONS,
    ERROR_TEXTS,
    HANDSHAKE_REFUSALS,
    KNOWN_TYPES,
    MESSAGE_TYPES,
    CloseCode,
)
from trio_socketapi.testing import open_test_server

PAGE = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
DOC_PLACEHOLDERS = {"type": "T", "channel": "X", "func": "FUNC", "limit": "N"}
"""How the page writes the fields of a text template."""


def table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table under ``### heading`` or ``## heading``."""
    text = PAGE.read_text()
    start = re.search(rf"^##+ {re.escape(heading)}\n", text, flags=re.MULTILINE)
    assert start is not None, f"no section {heading!r} in {PAGE.name}"
    lines = text[start.end() :].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2 :]:  # after the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def code_span(cell: str) -> str:
    """The text of a cell that is one ``code`` span."""
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


def make_app() -> SocketAPI:
    app = SocketAPI(broadcast_token="secret")

    @app.action("add")
    async def add_numbers(a: int, b: int) -> int:
        return a + b

    @app.action("boom")
    async def boom() -> None:
        raise KeyError("a secret")

    @app.action("refuse")
    async def refuse() -> None:
        raise ClientError("Not yours.")

    @app.channel("chat")
    async def chat_feed(text: str = "") -> str:
        return text

    @app.channel("news")
    async def news_feed() -> None:
        return None

    return app


@attrs.frozen
class Exchange:
    """Frames sent on one fresh connection, in order, and the reply each one gets."""

    sent: list[str | bytes]
    replies: list[dict[str, Any]]
    settings: Settings | None = None


ENVELOPE = {
    "no `type` (missing, empty)": [
        Exchange(['{"channel":"add"}'], [error("Message type is required.")]),
        Exchange(['{"type":"","channel":"add"}'], [error("Message type is required.")]),
    ],
    "no `channel` (missing, empty)": [
        Exchange(['{"type":"action"}'], [error("Channel is required.")]),
        Exchange(['{"type":"action","channel":""}'], [error("Channel is required.")]),
    ],
    "unknown `type`": [
        Exchange(['{"type":"T","channel":"add"}'], [error("Unknown message type: T.")]),
    ],
}
"""PROTOCOL.md "Inbound envelope", by the row's condition."""

ROBUST_INPUT = {
    "text that is not JSON": [Exchange(["{nope"], [error("Invalid JSON.")])],
    "JSON that is not an object": [
        Exchange(["[1]"], [error("Message must be a JSON object.")]),
    ],
    "`data` present but not an object": [
        Exchange(
            ['{"type":"action","channel":"add","data":[1,2]}'],
            [error("Invalid parameters for action 'add_numbers'")],
        ),
    ],
    "binary frame": [
        Exchange(
            [b'{"type":"action","channel":"add","data":{"a":1,"b":2}}'],
            [{"type": "action", "channel": "add", "status": "completed", "data": 3}],
        ),
        Exchange([b"\xff\xfe"], [error("Invalid JSON.")]),
    ],
    "frame over `max_message_size`": [],  # a close, not a reply: tests/test_bad_input.py
}
"""PROTOCOL.md "Robust input", by the row's condition."""

OTHER_ERRORS = [
    Exchange(
        ['{"type":"action","channel":"add","id":true}'],
        [error("Message id must be a string or an integer.")],
    ),
    Exchange(['{"type":"action","channel":"nope"}'], [error("Action 'nope' not found.")]),
    Exchange(['{"type":"subscribe","channel":"nope"}'], [error("Channel 'nope' not found.")]),
    Exchange(
        ['{"type":"subscribe","channel":"chat"}', '{"type":"subscribe","channel":"news"}'],
        [{"type": "subscribed", "channel": "chat"}, error("Subscription limit reached (1).")],
        settings=Settings(max_subscriptions=1),
    ),
    Exchange(
        ['{"type":"publish","channel":"chat","data":{"text":"hi"}}'],
        [error("Publishing is not allowed from this address.")],
    ),
    Exchange(
        ['{"type":"publish","channel":"chat","data":{"text":"hi"},"token":"secret"}'],
        [{"type": "published", "channel": "chat"}],
    ),
    Exchange(
        ['{"type":"action","channel":"boom"}', '{"type":"action","channel":"refuse"}'],
        [error("Internal server error."), error("Not yours.")],
        settings=Settings(expose_errors=False),
    ),
    Exchange(
        ['{"type":"subscribe","channel":"chat","id":1,"since":{"offset":-1,"epoch":"e"}}'],
        [
            error(
                "'since' must be an object with an integer 'offset' (0 or more)"
                " and a string 'epoch'.",
                id=1,
                channel="chat",
            )
        ],
    ),
    Exchange(
        ['{"type":"subscribe","channel":"chat","since":{"offset":0,"epoch":"e"}}'],
        [error("'since' needs a message id (recovery is an extension).")],
    ),
]
"""The error texts no table above shows, each made to be sent."""

EXCHANGES = [
    *(e for rows in ENVELOPE.values() for e in rows),
    *(e for rows in ROBUST_INPUT.values() for e in rows),
    *OTHER_ERRORS,
]


@pytest.mark.parametrize(
    ("heading", "samples"), [("Inbound envelope", ENVELOPE), ("Robust input", ROBUST_INPUT)]
)
def test_every_row_of_the_table_has_its_samples_and_json_replies_match(
    heading: str, samples: dict[str, list[Exchange]]
) -> None:
    rows = table(heading)
    assert [condition for condition, _ in rows] == list(samples)
    for condition, reply in rows:
        if reply.startswith("`{"):  # the reply is given as a frame: the samples send exactly it
            frame = json.loads(code_span(reply))
            assert samples[condition], condition
            for exchange in samples[condition]:
                assert exchange.replies == [frame]


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: repr(e.sent[-1])[:60])
async def test_the_server_answers_each_sample_as_the_page_says(
    exchange: Exchange, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        app = make_app()
        async with (
            open_test_server(app, settings=exchange.settings) as server,
            server.connect() as client,
        ):
            for frame, reply in zip(exchange.sent, exchange.replies, strict=True):
                if isinstance(frame, bytes):
                    await client.send_bytes(frame)
                else:
                    await client.send_text(frame)
                assert await client.receive_json() == reply


def test_the_close_codes_table_is_the_code() -> None:
    rows = [
        (int(code), code_span(name), code_span(reason))
        for code, name, reason, _ in table("Close codes")
    ]
    assert rows == [(int(code), code.name, CLOSE_REASONS[code]) for code in CloseCode]


def test_the_handshake_refusals_table_is_the_code() -> None:
    rows = [(int(status), code_span(body)) for status, body, _ in table("Handshake refusals")]
    assert rows == [tuple(refusal) for refusal in HANDSHAKE_REFUSALS]


def test_the_error_texts_table_is_the_code_and_every_text_is_sent_by_a_sample() -> None:
    documented = [code_span(message) for message, _ in table("Error texts")]
    assert documented == [text.format(**DOC_PLACEHOLDERS) for text in ERROR_TEXTS]
    sent = {r["message"] for e in EXCHANGES for r in e.replies if r["type"] == "error"}
    for text in ERROR_TEXTS:
        pattern = re.escape(text).replace(r"\{", "{").replace(r"\}", "}")
        pattern = re.sub(r"\{\w+\}", ".+", pattern)
        assert any(re.fullmatch(pattern, message) for message in sent), text


def test_every_error_text_the_page_quotes_is_one_of_the_code() -> None:
    quoted = set(re.findall(r'"message":"([^"]*)"', PAGE.read_text()))
    known = {text.format(**DOC_PLACEHOLDERS) for text in ERROR_TEXTS}
    assert quoted <= known


def test_the_dispatcher_has_one_handler_per_message_type() -> None:
    app = make_app()
    core = app._core
    hub = Hub(core.counters)
    dispatcher = Dispatcher(
        core.registry, hub, core.publish_policy, Settings(), core.counters, core.broker
    )
    assert tuple(dispatcher._by_type) == MESSAGE_TYPES
    assert frozenset(MESSAGE_TYPES) == KNOWN_TYPES
