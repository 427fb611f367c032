"""Every limit and timeout of the server, with its default and the reason for it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

import attrs

from ._handshake import ip_network_of

SlowConsumerPolicy = Literal["close", "drop_oldest"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"Settings.{attribute.name} must be positive, got {value!r}")


def _origins(value: object) -> tuple[str, ...] | Literal["*"]:
    if value == "*":
        return "*"
    if isinstance(value, str):
        return (value,)
    return tuple(cast(Iterable[str], value))


def _hosts(value: object) -> tuple[str, ...] | Literal["*"] | None:
    return None if value is None else _origins(value)


def _host_patterns(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or value == "*":
        return
    for pattern in value:
        if not isinstance(pattern, str) or not pattern or "://" in pattern:
            raise ValueError(
                f"Settings.{attribute.name} takes host names or addresses such as"
                f" 'api.example.com', '*.example.com' or '10.0.0.0/8', got {pattern!r}"
            )
        if "/" in pattern and ip_network_of(pattern) is None:
            raise ValueError(f"Settings.{attribute.name}: {pattern!r} is not an IP network")
        if pattern.count(":") == 1 and "/" not in pattern:
            raise ValueError(
                f"Settings.{attribute.name} matches host names without a port, got {pattern!r}"
            )


@attrs.frozen(kw_only=True)
class Settings:
    """Limits, timeouts and policies of a ``SocketAPI`` server, each with a safe default.

    Frozen: pass a new one to ``SocketAPI(settings=...)`` to change it. Times are in seconds;
    ``None`` turns an optional timer off.
    """

    max_message_size: int = attrs.field(default=1 << 20, validator=_positive)
    """Largest inbound message in bytes (1 MiB); a larger one closes the connection with 1009."""
    max_connections: int = attrs.field(default=10_000, validator=_positive)
    """Open connections per server; past it a handshake is refused with HTTP 503. Serving raises
    the process's soft open-files limit to fit them, as far as the hard limit allows."""
    max_subscriptions: int = attrs.field(default=1_000, validator=_positive)
    """Subscriptions one connection may hold; one more is refused with an error frame."""
    max_in_flight: int = attrs.field(default=32, validator=_positive)
    """Messages with an ``id`` handled concurrently per connection; past it the server stops
    reading from that client (backpressure) until one finishes."""
    outbox_size: int = attrs.field(default=256, validator=_positive)
    """Frames queued for one client. Large enough to absorb a burst, small enough that a stalled
    client holds little memory. What happens when it is full is ``slow_consumer_policy``."""
    slow_consumer_policy: SlowConsumerPolicy = "close"
    """``"close"``: a client whose outbox is full is closed with 1013, the others are served on
    time. ``"drop_oldest"``: its oldest queued data frame is dropped instead (counted in
    ``app.counters.frames_dropped``); replies are never dropped."""
    handshake_timeout: float = attrs.field(default=10.0, validator=_positive)
    """Seconds a client has to complete the opening handshake before it is dropped."""
    ping_interval: float | None = attrs.field(default=20.0, validator=_positive)
    """Seconds of silence from a client after which the server pings it (``None``: never).
    The server sweeps its connections every quarter interval, so a ping goes out between 1 and
    1.25 intervals after the client's last message or pong."""
    ping_timeout: float = attrs.field(default=20.0, validator=_positive)
    """Seconds to wait for the pong before closing the connection with 1008."""
    idle_timeout: float | None = attrs.field(default=None, validator=_positive)
    """Seconds without a message from the client before it is closed with 1000 (``None``: never;
    listeners that only receive broadcasts are legitimate, so this is off by default)."""
    close_timeout: float = attrs.field(default=2.0, validator=_positive)
    """Seconds to wait for the closing handshake (and a write in progress) before dropping TCP."""
    shutdown_timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds a shutting-down server waits for its clients' closing handshakes (code 1001)."""
    receive_buffer_size: int = attrs.field(default=64 * 1024, validator=_positive)
    """Bytes read from the socket per system call, at most."""
    allowed_origins: tuple[str, ...] | Literal["*"] = attrs.field(default=(), converter=_origins)
    """Browser origins allowed besides the server's own (``"*"``: any). A handshake whose
    ``Origin`` names another site is refused with 403, against cross-site WebSocket hijacking;
    handshakes without ``Origin`` (non-browser clients) are accepted."""
    allowed_hosts: tuple[str, ...] | Literal["*"] | None = attrs.field(
        default=None, converter=_hosts, validator=_host_patterns
    )
    """``Host`` names this server answers to: names, ``"*.example.com"`` (subdomains), IP
    networks, or ``"*"`` for any; a handshake naming another host is refused with 400. ``None``
    (the default): on loopback addresses only loopback names and addresses (against DNS
    rebinding: a page whose own name was pointed at 127.0.0.1), anywhere else any host."""
    allowed_paths: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    """Handshake paths served (``None``: any); another path is refused with 404."""
    expose_errors: bool = True
    """Send ``str(exc)`` for any handler exception (socketapi's behaviour). ``False`` sends
    "Internal server error." and logs the traceback, except for ``ClientError``s, whose
    message is always meant for the client."""
    serve_metrics: bool = False
    """Answer ``GET /metrics`` on the serving port with the counters and the action-latency and
    fan-out histograms (Prometheus text). Off by default: the WebSocket port usually faces the
    internet, and connection counts and traffic are for the operator, not for anyone who can
    reach the port; while off, the histograms are not recorded either."""
    serve_asyncapi: bool = True
    """Answer ``GET /asyncapi.json`` with ``app.asyncapi()``: the API's public contract, which
    every client sees anyway by using it."""
