"""The client's side of the wire protocol as pure functions: no trio, no I/O.

``encode_request`` builds the frame of an action, subscribe or unsubscribe; ``parse_frame`` turns
one server frame into a ``ServerFrame``; ``feeds_data`` decides whether a data frame belongs to a
subscription; ``Reconnect`` is the backoff policy as data. ``client.py`` does the I/O around them.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pydantic
import pydantic_core

from ._protocol import MessageId, to_json

REPLY_TYPES = frozenset({"action", "subscribed", "unsubscribed", "published", "error"})
"""Frame types that answer a request (``data`` frames answer none)."""


class ActionError(Exception):
    """The server answered a request with an error frame.

    ``message`` is the frame's text (socketapi's ``str(exc)`` of the handler's exception, or the
    protocol's error text); ``errors`` is pydantic's error list when the parameters were invalid
    and the server sent it (``loc``, ``msg``, ``type``), else ``None``; ``channel`` the name the
    request addressed.
    """

    def __init__(
        self, message: str, *, errors: list[dict[str, Any]] | None = None, channel: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.channel = channel


@attrs.frozen
class ServerFrame:
    """One frame from the server: its ``type``, ``id`` (``None`` if it carries none), the rest."""

    type: str
    id: MessageId | None
    channel: str | None
    data: Any
    params: Mapping[str, Any] | None
    frame: Mapping[str, Any]
    """The whole frame as parsed, for keys a caller wants beyond these (``recovered`` …)."""

    @property
    def answers_request(self) -> bool:
        """Whether this frame is the reply to a request (anything but a ``data`` frame)."""
        return self.type in REPLY_TYPES

    def error(self, channel: str) -> ActionError:
        """The ``ActionError`` an error frame stands for (``channel``: what the request named)."""
        message = self.frame.get("message")
        errors = self.frame.get("errors")
        return ActionError(
            message if isinstance(message, str) else repr(message),
            errors=errors if isinstance(errors, list) else None,
            channel=channel,
        )


class MalformedFrame(ValueError):
    """A server frame that is not a JSON object with a string ``type``."""


def parse_frame(raw: str | bytes) -> ServerFrame:
    """Parse one server frame; raises ``MalformedFrame`` for anything the protocol never sends."""
    try:
        frame = pydantic_core.from_json(raw)
    except ValueError:
        raise MalformedFrame(f"not JSON: {raw[:80]!r}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise MalformedFrame(f"not a protocol frame: {raw[:80]!r}")
    frame_id = frame.get("id")
    channel = frame.get("channel")
    params = frame.get("params")
    return ServerFrame(
        type=frame["type"],
        id=frame_id if isinstance(frame_id, str | int) and not isinstance(frame_id, bool) else None,
        channel=channel if isinstance(channel, str) else None,
        data=frame.get("data"),
        params=params if isinstance(params, dict) else None,
        frame=frame,
    )


def encode_request(
    message_type: str,
    channel: str,
    params: Mapping[str, Any] | None,
    *,
    id: MessageId | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The text of one request; ``params`` ``None`` omits ``data``, ``id`` ``None`` omits ``id``.

    ``extra`` adds top-level keys (a subscribe's ``since``, when recovering from history).
    Values are serialised as the server serialises results (pydantic models included).
    """
    message: dict[str, Any] = {"type": message_type, "channel": channel}
    if params is not None:
        message["data"] = params
    if id is not None:
        message["id"] = id
    if extra:
        message.update(extra)
    return to_json(message).decode()


def normalise(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as the server will read them: serialised and parsed back (models to dicts)."""
    result: dict[str, Any] = pydantic_core.from_json(to_json(dict(params)))
    return result


def feeds_data(subscribed: Mapping[str, Any], frame_params: Mapping[str, Any] | None) -> bool:
    """Whether a data frame carrying ``frame_params`` belongs to a subscription made with
    ``subscribed`` (normalised) parameters.

    The server echoes the subscription key (the validated ``RequiredOnSubscribe`` values) as the
    frame's ``params``; a frame without ``params`` belongs to every subscription of its channel.
    A key the subscription did not send (one taken from a dynamic path) does not decide. Values
    compare equal, or equal as text, since the server validates ``"7"`` into ``7`` for an ``int``.
    """
    if not frame_params:
        return True
    for name, value in frame_params.items():
        if name in subscribed:
            mine = subscribed[name]
            if mine != value and str(mine) != str(value):
                return False
    return True


def arguments_of(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The named parameters a typed call (``client.action(add, 1, b=2)``) stands for.

    Raises ``TypeError`` as calling the function would, for arguments its signature refuses.
    """
    return dict(inspect.signature(func).bind_partial(*args, **kwargs).arguments)


@functools.lru_cache(maxsize=512)
def decoder_for(func: Callable[..., Any]) -> Callable[[Any], Any]:
    """A function turning the JSON the server sent for ``func``'s result back into its type.

    A result annotated ``User`` comes back as a ``User``, ``datetime`` as a ``datetime``. Where
    the return annotation is missing or cannot be resolved (a class defined inside a function),
    the JSON value is returned as it is. A value that does not validate raises pydantic's
    ``ValidationError`` (the server and this client disagree about the type).
    """
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except (NameError, TypeError):
        return _as_is
    annotation = hints.get("return")
    if annotation is None or annotation is Any:
        return _as_is
    if annotation is type(None):
        return _none
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
    return adapter.validate_python


def _as_is(value: Any) -> Any:
    return value


def _none(value: Any) -> None:
    return None


@attrs.frozen(kw_only=True)
class Reconnect:
    """How a client reconnects after its connection drops: exponential backoff with jitter.

    Attempt ``n`` (from 1) waits ``min(max_delay, initial_delay * multiplier ** (n - 1))``,
    shortened by up to ``jitter`` of itself at random (so clients dropped together do not return
    together), then tries once. After ``max_attempts`` failed attempts in a row the client gives
    up and closes. A connection that opens resets the count.
    """

    initial_delay: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    """Seconds before the first attempt."""
    max_delay: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    """The longest wait between two attempts."""
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    """How much longer each wait is than the one before."""
    jitter: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    """The largest fraction of a wait taken off at random (0: none, 1: anywhere down to 0)."""
    max_attempts: int = attrs.field(default=10, validator=attrs.validators.gt(0))
    """Failed attempts in a row before giving up (the default spans about three minutes)."""

    def delay(self, attempt: int, randomness: float) -> float:
        """Seconds to wait before attempt ``attempt`` (1, 2, …), ``randomness`` in [0, 1)."""
        growth = self.multiplier ** min(attempt - 1, 64)  # capped: no float overflow
        ceiling = min(self.max_delay, self.initial_delay * growth)
        return ceiling * (1.0 - self.jitter * randomness)
