"""The public surface: what ``trio_socketapi`` and ``trio_socketapi.testing`` export, documented.

Changing ``__all__`` is a deliberate act: update the pinned lists here together with the README.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import trio_socketapi
import trio_socketapi.client
import trio_socketapi.testclient
import trio_socketapi.testing

PACKAGE_ALL = [
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

TESTING_ALL = [
    "TestClient",
    "TestServer",
    "client_frame",
    "open_test_client",
    "open_test_server",
    "upgrade_request",
]

CLIENT_ALL = [
    "ActionError",
    "Client",
    "ClientClosed",
    "ConnectionLost",
    "Feed",
    "FeedOverflow",
    "NotRecovered",
    "HandshakeRejected",
    "Reconnect",
    "connect",
]

TESTCLIENT_ALL = ["TestClient", "WebSocketDisconnect", "WebSocketTestSession"]

PUBLIC_MODULES = [
    pytest.param(trio_socketapi, PACKAGE_ALL, id="trio_socketapi"),
    pytest.param(trio_socketapi.testing, TESTING_ALL, id="trio_socketapi.testing"),
    pytest.param(trio_socketapi.client, CLIENT_ALL, id="trio_socketapi.client"),
    pytest.param(trio_socketapi.testclient, TESTCLIENT_ALL, id="trio_socketapi.testclient"),
]


@pytest.mark.parametrize(("module", "names"), PUBLIC_MODULES)
def test_all_is_pinned(module: ModuleType, names: list[str]) -> None:
    assert sorted(module.__all__) == sorted(names)
    assert len(set(module.__all__)) == len(module.__all__), "no duplicates"


@pytest.mark.parametrize(("module", "names"), PUBLIC_MODULES)
def test_every_exported_name_exists(module: ModuleType, names: list[str]) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_the_issue_import_line_works() -> None:
    from trio_socketapi import Depends, RequiredOnSubscribe, Router, SocketAPI

    assert [SocketAPI, Router, RequiredOnSubscribe, Depends] == [
        trio_socketapi.SocketAPI,
        trio_socketapi.Router,
        trio_socketapi.RequiredOnSubscribe,
        trio_socketapi.Depends,
    ]


def _own_doc(obj: Any) -> str | None:
    """``obj``'s docstring, not one inherited from ``object`` or a generic base."""
    doc = obj.__doc__
    if inspect.isclass(obj):
        for base in obj.__mro__[1:]:
            if base.__doc__ == doc:
                return None
    return doc.strip() if doc else None


def _public_items() -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for module in (
        trio_socketapi,
        trio_socketapi.testing,
        trio_socketapi.client,
        trio_socketapi.testclient,
    ):
        for name in module.__all__:
            if name == "__version__":
                continue
            items.append((f"{module.__name__}.{name}", getattr(module, name)))
    return items


@pytest.mark.parametrize(
    ("qualified", "obj"), [pytest.param(q, o, id=q) for q, o in _public_items()]
)
def test_every_public_name_has_a_docstring(qualified: str, obj: Any) -> None:
    assert _own_doc(obj), f"{qualified} has no docstring of its own"


def _public_members() -> list[Any]:
    """Public methods and properties of every exported class, inherited ones included."""
    members: list[Any] = []
    for qualified, obj in _public_items():
        if not inspect.isclass(obj):
            continue
        seen: set[str] = set()
        for cls in obj.__mro__:
            if not cls.__module__.startswith("trio_socketapi"):
                continue
            for attr, value in vars(cls).items():
                if attr.startswith("_") or attr in seen:
                    continue
                seen.add(attr)
                if isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                if isinstance(value, property) or inspect.isfunction(value):
                    name = f"{qualified}.{attr}"
                    members.append(pytest.param(name, value, id=name))
    return members


@pytest.mark.parametrize(("qualified", "member"), _public_members())
def test_every_public_method_and_property_has_a_docstring(qualified: str, member: Any) -> None:
    assert member.__doc__ and member.__doc__.strip(), f"{qualified} has no docstring"


def test_public_modules_have_docstrings() -> None:
    for module in (
        trio_socketapi,
        trio_socketapi.testing,
        trio_socketapi.client,
        trio_socketapi.testclient,
    ):
        assert module.__doc__ and module.__doc__.strip()


CLASS_MEMBERS = {
    "SocketAPI": [
        "action",
        "asgi_lifespan",
        "asyncapi",
        "background",
        "broker",
        "channel",
        "counters",
        "include_router",
        "lifespan",
        "metrics",
        "on_handshake",
        "publishes_here",
        "run",
        "serve",
        "static",
    ],
    "Router": ["action", "background", "channel", "include_router", "lifespan"],
    "ChannelHandler": ["concrete_name", "history", "presence", "publish_threadsafe"],
    "ActionHandler": [],
    "Broker": [
        "is_shared",
        "keep_presence",
        "presence",
        "presence_changed",
        "publish",
        "publish_recorded",
        "read_stream",
        "recent",
        "run",
    ],
    "Broadcast": ["channel", "data_json", "decode", "encode", "event", "key", "positions"],
    "Connection": [
        "from_handshake",
        "headers",
        "id",
        "info",
        "path",
        "query_params",
        "query_string",
        "remote",
        "state",
    ],
    "CloseCode": [
        "GOING_AWAY",
        "INTERNAL_ERROR",
        "INVALID_PAYLOAD",
        "MESSAGE_TOO_BIG",
        "NORMAL",
        "POLICY_VIOLATION",
        "PROTOCOL_ERROR",
        "TRY_AGAIN_LATER",
        "UNSUPPORTED_DATA",
    ],
}
"""The public class members (methods, properties, class attributes) of the classes whose
surface is what a user calls; anything else on them is private (``_name``)."""


@pytest.mark.parametrize(("name", "members"), CLASS_MEMBERS.items())
def test_class_members_are_pinned(name: str, members: list[str]) -> None:
    cls = getattr(trio_socketapi, name)
    found = {
        attr
        for klass in cls.__mro__
        if klass.__module__.startswith("trio_socketapi")
        for attr in vars(klass)
        if not attr.startswith("_")
    }
    assert sorted(found) == members


def test_instance_attributes_are_pinned() -> None:
    app = trio_socketapi.SocketAPI()

    @app.channel("news")
    async def news() -> None:
        return None

    @app.action("add")
    async def add() -> None:
        return None

    def public(obj: object) -> list[str]:
        return sorted(name for name in vars(obj) if not name.startswith("_"))

    assert public(app) == [
        "broadcast_allowed_hosts",
        "broadcast_token",
        "description",
        "host",
        "port",
        "settings",
        "title",
        "version",
    ]
    assert public(trio_socketapi.Router()) == []
    assert public(news) == [
        "default_response",
        "func",
        "history_config",
        "key_signature",
        "name",
        "path",
        "presence_enabled",
        "signature",
        "subscribe_signature",
    ]
    assert public(add) == ["func", "name", "path", "signature"]


def test_version_is_the_project_version() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, flags=re.MULTILINE)
    assert version is not None and trio_socketapi.__version__ == version[1]


TESTING_CLASS_MEMBERS = {
    "TestClient": [
        "aclose",
        "action",
        "receive_json",
        "request",
        "send_bytes",
        "send_frame",
        "send_json",
        "send_raw",
        "send_text",
        "subscribe",
        "unsubscribe",
        "wait_closed",
    ],
    "TestServer": ["connect", "open_stream", "shutdown", "subscriber_count"],
}
"""The public methods of the test toolkit's classes (``TestClient.ws`` is an instance attribute)."""


@pytest.mark.parametrize(("name", "members"), TESTING_CLASS_MEMBERS.items())
def test_testing_class_members_are_pinned(name: str, members: list[str]) -> None:
    cls = getattr(trio_socketapi.testing, name)
    assert sorted(attr for attr in vars(cls) if not attr.startswith("_")) == members
