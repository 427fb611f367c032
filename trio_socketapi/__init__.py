"""A trio-native framework for real-time WebSocket APIs, wire-compatible with socketapi."""

from __future__ import annotations

from ._app import SocketAPI
from ._connection import Connection
from ._forward import PublishError
from ._handlers import ActionHandler, ChannelHandler
from ._markers import Depends, RequiredOnSubscribe
from ._router import Router
from ._settings import Settings

__all__ = [
    "ActionHandler",
    "ChannelHandler",
    "Connection",
    "Depends",
    "PublishError",
    "RequiredOnSubscribe",
    "Router",
    "Settings",
    "SocketAPI",
]
