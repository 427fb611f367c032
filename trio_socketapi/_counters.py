"""Counters an operator reads from a running app: ``app.counters``."""

from __future__ import annotations

import attrs


@attrs.define
class Counters:
    """Running totals for one app in this process (all servers of it added up)."""

    connections_open: int = 0
    """Connections currently open."""
    connections_total: int = 0
    """Connections accepted since start."""
    handshakes_refused: int = 0
    """Handshakes refused (host, origin, path, connection limit, handshake hook)."""
    handshakes_timed_out: int = 0
    """Handshakes dropped unanswered because they took longer than ``handshake_timeout``."""
    subscriptions: int = 0
    """Subscriptions currently held, over all connections."""
    messages_in: int = 0
    """Messages received from clients."""
    messages_out: int = 0
    """Frames queued to clients (replies and data frames)."""
    slow_consumer_closes: int = 0
    """Connections closed because their outbound queue was full (1013)."""
    frames_dropped: int = 0
    """Data frames dropped under the ``drop_oldest`` slow-consumer policy."""
    handler_errors: int = 0
    """Unexpected exceptions raised by handlers (answered with an error frame)."""
