"""A trio-native framework for real-time WebSocket APIs, wire-compatible with socketapi."""

from __future__ import annotations

from ._app import SocketAPI
from ._broker import Broadcast, Broker
from ._connection import Connection
from ._counters import Counters
from ._dispatch import ClientError
from ._forward import PublishError
from ._handlers import ActionHandler, ChannelHandler
from ._handshake import HandshakeRefused
from ._history import History, Publication
from ._markers import Depends, RequiredOnSubscribe
from ._protocol import CloseCode
from ._router import Router
from ._scheduling import fifo_scheduling
from ._settings import Settings
from .client import connect

__version__ = "0.1.0"
"""The version of this package (as in pyproject.toml)."""

__all__ = [
    "ActionHandler",
    "Broadcast",
    "Broker",
    "ChannelHandler",
    "ClientError",
    "CloseCode",
    "Connection",
    "Counters",
    "Depends",
    "HandshakeRefused",
    "History",
    "PublishError",
    "Publication",
    "RequiredOnSubscribe",
    "Router",
    "Settings",
    "SocketAPI",
    "__version__",
    "connect",
    "fifo_scheduling",
]
