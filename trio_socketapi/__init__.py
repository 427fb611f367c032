"""A trio-native framework for real-time WebSocket APIs, wire-compatible with socketapi."""

from __future__ import annotations

from ._app import SocketAPI
from ._connection import Connection
from ._counters import Counters
from ._dispatch import ClientError
from ._forward import PublishError
from ._handlers import ActionHandler, ChannelHandler
from ._handshake import HandshakeRefused
from ._history import History, Publication
from ._markers import Depends, RequiredOnSubscribe
from ._router import Router
from ._settings import Settings

__all__ = [
    "ActionHandler",
    "ChannelHandler",
    "ClientError",
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
]
