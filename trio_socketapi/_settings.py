"""Every limit and timeout of the server, with its default and the reason for it."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class Settings:
    """Limits and timeouts for a ``SocketAPI`` server. Frozen: build a new one to change it."""

    max_message_size: int = 1 << 20
    """Largest inbound message in bytes (1 MiB); a larger one closes the connection with 1009."""
    outbox_size: int = 256
    """Frames queued for one client before it counts as a slow consumer and is closed with 1013.
    Large enough to absorb a burst, small enough that one stalled client holds little memory."""
    max_in_flight: int = 32
    """Messages with an ``id`` handled concurrently per connection; past it the server stops
    reading from that client (backpressure) until one finishes."""
    handshake_timeout: float = 10.0
    """Seconds a client has to complete the opening handshake before it is dropped."""
    close_timeout: float = 2.0
    """Seconds to wait for the closing handshake before the TCP connection is dropped."""
    shutdown_timeout: float = 5.0
    """Seconds a shutting-down server waits for its clients' closing handshakes (code 1001)."""
    receive_buffer_size: int = 64 * 1024
    """Bytes read from the socket per system call (trio-websocket's own default is 4 KiB)."""

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            if getattr(self, field.name) <= 0:
                raise ValueError(f"Settings.{field.name} must be positive")
