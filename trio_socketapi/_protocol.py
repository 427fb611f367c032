"""The wire protocol (PROTOCOL.md) as pure functions: no trio, no I/O.

Inbound: ``parse_inbound`` turns one WebSocket message into an ``Inbound`` or raises
``ProtocolError`` carrying the exact error frame PROTOCOL.md prescribes, checked in its order.
Outbound: ``encode_*`` build the JSON bytes of every frame the server sends. Every text a client
can see (error messages, close reasons) and every close code is data here, so docs/protocol.md
and the tests check one place.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import attrs
import pydantic_core

from ._history import Since

MessageId = str | int


class CloseCode(enum.IntEnum):
    """The WebSocket close codes this server sends, and why (reasons in ``CLOSE_REASONS``)."""

    NORMAL = 1000
    """The server ended the connection on purpose (an idle timeout, for one)."""
    GOING_AWAY = 1001
    """The server is shutting down."""
    PROTOCOL_ERROR = 1002
    """The client broke the WebSocket protocol."""
    UNSUPPORTED_DATA = 1003
    """The client sent a kind of frame the server does not accept."""
    INVALID_PAYLOAD = 1007
    """The client sent a text frame that is not UTF-8."""
    POLICY_VIOLATION = 1008
    """The client broke a server policy (it stopped answering keepalive pings)."""
    MESSAGE_TOO_BIG = 1009
    """The client sent a message over ``Settings.max_message_size``."""
    INTERNAL_ERROR = 1011
    """The server failed while serving the connection."""
    TRY_AGAIN_LATER = 1013
    """The client read too slowly: its outbox was full (the ``close`` slow-consumer policy)."""


CLOSE_REASONS: Final[Mapping[CloseCode, str]] = {
    CloseCode.NORMAL: "Closing.",
    CloseCode.GOING_AWAY: "Server shutting down.",
    CloseCode.PROTOCOL_ERROR: "Protocol error.",
    CloseCode.UNSUPPORTED_DATA: "Unsupported data.",
    CloseCode.INVALID_PAYLOAD: "Invalid frame payload data.",
    CloseCode.POLICY_VIOLATION: "Policy violation.",
    CloseCode.MESSAGE_TOO_BIG: "Message too big.",
    CloseCode.INTERNAL_ERROR: "Internal error.",
    CloseCode.TRY_AGAIN_LATER: "Slow consumer: outbound queue full.",
}
"""The reason sent with each code when no more specific one is given."""

CLIENT_VIOLATION_CODES: Final = frozenset(
    {CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_PAYLOAD}
)
"""Codes wsproto reports for a client's protocol violation; the server answers with the same."""

IDLE_TIMEOUT_REASON: Final = "Idle timeout."
"""Close reason (with ``NORMAL``) for a client silent past ``Settings.idle_timeout``."""
PING_TIMEOUT_REASON: Final = "Keepalive ping timeout."
"""Close reason (with ``POLICY_VIOLATION``) for a client that did not answer a ping in time."""

# Error frame texts, in PROTOCOL.md's order. ``{name}`` fields are filled with ``str.format``.
INVALID_JSON: Final = "Invalid JSON."
NOT_AN_OBJECT: Final = "Message must be a JSON object."
INVALID_ID: Final = "Message id must be a string or an integer."
TYPE_REQUIRED: Final = "Message type is required."
CHANNEL_REQUIRED: Final = "Channel is required."
UNKNOWN_TYPE: Final = "Unknown message type: {type}."
ACTION_NOT_FOUND: Final = "Action '{channel}' not found."
CHANNEL_NOT_FOUND: Final = "Channel '{channel}' not found."
INVALID_PARAMETERS: Final = "Invalid parameters for action '{func}'"
"""``func`` is the handler function's ``__name__`` (socketapi's text, for channels too)."""
SUBSCRIPTION_LIMIT: Final = "Subscription limit reached ({limit})."
PUBLISH_NOT_ALLOWED: Final = "Publishing is not allowed from this address."
INTERNAL_SERVER_ERROR: Final = "Internal server error."
"""Sent for a handler's exception instead of ``str(exc)`` when ``expose_errors`` is off."""
INVALID_SINCE: Final = (
    "'since' must be an object with an integer 'offset' (0 or more) and a string 'epoch'."
)
SINCE_NEEDS_ID: Final = "'since' needs a message id (recovery is an extension)."

ERROR_TEXTS: Final = (
    INVALID_JSON,
    NOT_AN_OBJECT,
    INVALID_ID,
    TYPE_REQUIRED,
    CHANNEL_REQUIRED,
    UNKNOWN_TYPE,
    ACTION_NOT_FOUND,
    CHANNEL_NOT_FOUND,
    INVALID_PARAMETERS,
    SUBSCRIPTION_LIMIT,
    PUBLISH_NOT_ALLOWED,
    INTERNAL_SERVER_ERROR,
    INVALID_SINCE,
    SINCE_NEEDS_ID,
)
"""Every error frame text the server writes itself (a handler's own ``str(exc)`` aside), as
docs/protocol.md lists them."""


class Refusal(NamedTuple):
    """An opening handshake refused: the HTTP status and the response body."""

    status: int
    reason: str


HOST_REFUSED: Final = Refusal(400, "Invalid Host header")
PATH_REFUSED: Final = Refusal(404, "Not Found")
ORIGIN_REFUSED: Final = Refusal(403, "Cross-origin WebSocket connection refused")
TOO_MANY_CONNECTIONS: Final = Refusal(503, "Too many connections")
SHUTTING_DOWN: Final = Refusal(503, "Shutting down")
HOOK_FAILED: Final = Refusal(500, "Internal Server Error")
"""An ``on_handshake`` hook raised something other than ``HandshakeRefused``."""

HANDSHAKE_REFUSALS: Final = (
    SHUTTING_DOWN,
    TOO_MANY_CONNECTIONS,
    HOST_REFUSED,
    PATH_REFUSED,
    ORIGIN_REFUSED,
    HOOK_FAILED,
)
"""Every refusal the server itself answers a handshake with (a hook's own aside), in the order
the server checks for them, as docs/protocol.md lists them."""

MESSAGE_TYPES: Final = ("action", "subscribe", "unsubscribe", "publish")
"""The inbound message types; the dispatcher's table has one handler for each."""
KNOWN_TYPES: Final = frozenset(MESSAGE_TYPES)


@attrs.frozen
class Inbound:
    """One well-formed inbound message.

    ``channel`` is whatever the client sent (truthy, usually a str); ``data`` is the raw ``data``
    value (``None`` when absent); ``id`` is the request id or ``None``; ``since`` is where a
    resubscribing client stopped (``subscribe`` only).
    """

    type: str
    channel: Any
    data: object
    id: MessageId | None
    token: object = None
    since: Since | None = None


class ProtocolError(Exception):
    """An inbound message PROTOCOL.md answers with an error frame; the connection stays open."""

    def __init__(self, message: str, *, id: MessageId | None = None, channel: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.id = id
        self.channel = channel

    def encode(self) -> bytes:
        """The error frame answering the message."""
        return encode_error(self.message, id=self.id, channel=self.channel)


def parse_inbound(raw: str | bytes) -> Inbound:
    """Parse one WebSocket message, applying PROTOCOL.md's checks in order."""
    try:
        message = pydantic_core.from_json(raw)
    except ValueError:
        raise ProtocolError(INVALID_JSON) from None
    if not isinstance(message, dict):
        raise ProtocolError(NOT_AN_OBJECT)
    message_id = message.get("id")
    if message_id is not None and (
        isinstance(message_id, bool) or not isinstance(message_id, str | int)
    ):
        raise ProtocolError(INVALID_ID)
    channel = message.get("channel")
    named_channel = channel if channel else None
    message_type = message.get("type")
    if not message_type:
        raise ProtocolError(TYPE_REQUIRED, id=message_id, channel=named_channel)
    if not channel:
        raise ProtocolError(CHANNEL_REQUIRED, id=message_id)
    if not isinstance(message_type, str) or message_type not in KNOWN_TYPES:
        raise ProtocolError(UNKNOWN_TYPE.format(type=message_type), id=message_id, channel=channel)
    since = None
    if message_type == "subscribe" and message.get("since") is not None:
        since = parse_since(message["since"], message_id, channel)
    return Inbound(
        type=message_type,
        channel=channel,
        data=message.get("data"),
        id=message_id,
        token=message.get("token"),
        since=since,
    )


def parse_since(value: object, message_id: MessageId | None, channel: Any) -> Since:
    """Check a subscribe's ``since``: ``{"offset": int >= 0, "epoch": str}``, with an ``id``."""
    if message_id is None:
        raise ProtocolError(SINCE_NEEDS_ID)
    if not isinstance(value, dict):
        raise ProtocolError(INVALID_SINCE, id=message_id, channel=channel)
    offset, epoch = value.get("offset"), value.get("epoch")
    if (
        isinstance(offset, bool)
        or not isinstance(offset, int)
        or offset < 0
        or not isinstance(epoch, str)
        or not epoch
    ):
        raise ProtocolError(INVALID_SINCE, id=message_id, channel=channel)
    return Since(offset, epoch)


def to_json(value: Any) -> bytes:
    """Serialise ``value`` (pydantic models, datetimes, UUIDs … included) to JSON bytes.

    Models use their field names, as ``model_dump()`` does (socketapi's form), not aliases.
    ``NaN`` and infinities become ``null``: the output is always valid JSON.
    Raises ``pydantic_core.PydanticSerializationError`` for values pydantic cannot serialise.
    """
    return pydantic_core.to_json(value, by_alias=False, inf_nan_mode="null")


def encode_error(
    message: str,
    *,
    id: MessageId | None = None,
    channel: Any = None,
    errors: list[dict[str, Any]] | None = None,
) -> bytes:
    """An error frame. Without an ``id`` it keeps socketapi's exact ``{type, message}`` shape."""
    frame: dict[str, Any] = {"type": "error", "message": message}
    if id is not None:
        frame["id"] = id
        if channel is not None:
            frame["channel"] = channel
        if errors is not None:
            frame["errors"] = errors
    return to_json(frame)


def encode_reply(
    reply_type: str,
    channel: Any,
    *,
    id: MessageId | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> bytes:
    """A ``subscribed``, ``unsubscribed`` or ``published`` frame.

    ``extensions`` (``recovered``, ``offset``, ``epoch``) are added only to a reply with an ``id``.
    """
    frame: dict[str, Any] = {"type": reply_type, "channel": channel}
    if id is not None:
        frame["id"] = id
        if extensions:
            frame.update(extensions)
    return to_json(frame)


def encode_action_result(channel: Any, result: Any, *, id: MessageId | None = None) -> bytes:
    """A completed action's reply; ``None`` results carry no ``data`` key."""
    frame: dict[str, Any] = {"type": "action", "channel": channel, "status": "completed"}
    if result is not None:
        frame["data"] = result
    if id is not None:
        frame["id"] = id
    return to_json(frame)


def encode_data(
    channel_json: bytes,
    data_json: bytes | None,
    params_json: bytes | None,
    position_json: bytes | None = None,
) -> bytes:
    """A ``data`` frame from already-serialised parts (so a broadcast serialises them once).

    ``channel_json`` is the JSON of the channel name; ``data_json`` ``None`` omits ``data``;
    ``params_json`` (the subscription key) ``None`` omits ``params``; ``position_json`` (from
    ``encode_position``) adds a history channel's ``offset`` and ``epoch``.
    """
    parts = [b'{"type":"data","channel":', channel_json]
    if data_json is not None:
        parts += (b',"data":', data_json)
    if params_json is not None:
        parts += (b',"params":', params_json)
    if position_json is not None:
        parts.append(position_json)
    parts.append(b"}")
    return b"".join(parts)


def encode_position(offset: int, epoch: str) -> bytes:
    """The ``,"offset":N,"epoch":E`` members of a history channel's data frame."""
    return b',"offset":%d,"epoch":%s' % (offset, to_json(epoch))
