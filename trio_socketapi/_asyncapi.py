"""The AsyncAPI 3.0 document of an app, built from its registry: ``app.asyncapi()``.

The document describes the server: one ``ws`` server, and for every action and channel an
AsyncAPI channel whose ``address`` is its name (``chat/{room_id}`` with its path parameters as
channel ``parameters``). Operations are the server's: it *receives* an ``action`` request and
replies with the result or an error frame; it *receives* ``subscribe``/``unsubscribe`` and
replies; it *sends* ``data`` frames. Every payload is the whole frame (the envelope), with the
handler's schemas in it: ``data`` of a request is the JSON Schema pydantic gives for the
parameters a client sends (``Connection`` parameters never appear; a ``Depends`` parameter is
the object its dependency takes), ``data`` of a result or data frame the schema of the
function's return annotation. The envelope's shared parts (the ``id`` correlation, the error
frame, the close codes) are described once in ``components``. Titles and descriptions come from
docstrings. Shared model schemas go to ``components.schemas``.

Pure: no I/O. Building it costs a few milliseconds, so ``/asyncapi.json`` builds it per request.
"""

from __future__ import annotations

import inspect
import re
import typing
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pydantic

from ._protocol import CLOSE_REASONS, CloseCode

if TYPE_CHECKING:
    from ._handlers import ActionHandler, ChannelHandler
    from ._registry import Registry
    from ._signature import CompiledSignature

ASYNCAPI_VERSION = "3.0.0"
REF = "#/components/schemas/{model}"
ID_SCHEMA: dict[str, Any] = {
    "description": "Echoed in the reply; opts the exchange into the protocol's extensions.",
    "type": ["string", "integer"],
}
CORRELATION = {"$ref": "#/components/correlationIds/id"}


class Describer:
    """Collects shared schemas while the document's parts are built."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema_of(self, build: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """A JSON Schema from pydantic (``build(ref_template)``), its ``$defs`` moved to the
        components."""
        try:
            with warnings.catch_warnings():  # a subscribe's "not sent" default has no JSON
                warnings.simplefilter("ignore", pydantic.json_schema.PydanticJsonSchemaWarning)
                schema = build(REF)
        except (pydantic.PydanticUserError, pydantic.errors.PydanticInvalidForJsonSchema):
            return {}  # a type pydantic cannot describe (arbitrary classes): any value
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, definition)
        return schema

    def params(self, signature: CompiledSignature) -> dict[str, Any]:
        """The schema of what a client sends in ``data`` for ``signature``."""
        schema = self.schema_of(
            lambda ref: signature.model.model_json_schema(by_alias=True, ref_template=ref)
        )
        schema.pop("title", None)
        properties = schema.setdefault("properties", {})
        for name, dependency in signature.dependencies:
            nested = self.params(dependency)
            if nested.get("properties"):  # one that takes only a Connection has nothing to send
                properties[name] = nested
                if nested.get("required"):
                    schema.setdefault("required", []).append(name)
        return schema

    def result(self, func: Callable[..., Any]) -> dict[str, Any]:
        """The schema of ``func``'s return annotation (any value if it has none)."""
        annotation = _return_annotation(func)
        if annotation is inspect.Signature.empty:
            return {}
        return self.schema_of(
            lambda ref: pydantic.TypeAdapter(annotation).json_schema(ref_template=ref)
        )


def build_document(
    registry: Registry,
    *,
    title: str,
    version: str,
    description: str | None,
    host: str,
    port: int,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the handlers in ``registry``."""
    describer = Describer()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    ids = _Ids()
    for action in registry.actions.values():
        key = ids.make("action", action.name)
        channels[key], new = _action(describer, key, action)
        operations.update(new)
    for channel in registry.channels.values():
        key = ids.make("channel", channel.name)
        channels[key], new = _channel(describer, key, channel)
        operations.update(new)
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": "application/json",
        "servers": {
            "default": {
                "host": f"{host}:{port}",
                "protocol": "ws",
                "pathname": "/",
                "description": "One WebSocket connection carries every action and channel,"
                " as JSON text frames whose `type` and `channel` say what each is.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": _components(describer.schemas),
    }


def _action(describer: Describer, key: str, handler: ActionHandler[Any, Any]) -> tuple[Any, Any]:
    title, summary, text = _doc(handler.func)
    name = _name_schema(handler.name, handler.path is not None)
    request = _message(
        "action request",
        summary or f"Call {handler.name}.",
        {
            "type": {"const": "action"},
            "channel": name,
            "data": describer.params(handler.signature),
            "id": ID_SCHEMA,
        },
        ["type", "channel"],
        text,
    )
    result = _message(
        "action result",
        f"The result of {handler.name}.",
        {
            "type": {"const": "action"},
            "channel": name,
            "status": {"const": "completed"},
            "data": describer.result(handler.func),
            "id": ID_SCHEMA,
        },
        ["type", "channel", "status", "data"],
    )
    channel: dict[str, Any] = {
        "address": handler.name,
        "title": title or handler.name,
        "messages": {
            "request": request,
            "result": result,
            "error": {"$ref": "#/components/messages/error"},
        },
    }
    _describe_path(channel, handler.path, handler.signature)
    if text:
        channel["description"] = text
    ref = f"#/channels/{key}"
    operation = {
        "action": "receive",
        "channel": {"$ref": ref},
        "title": title or handler.name,
        "summary": summary or f"Call {handler.name}.",
        "messages": [{"$ref": f"{ref}/messages/request"}],
        "reply": {
            "channel": {"$ref": ref},
            "messages": [{"$ref": f"{ref}/messages/result"}, {"$ref": f"{ref}/messages/error"}],
        },
    }
    return channel, {key: operation}


def _channel(describer: Describer, key: str, handler: ChannelHandler[Any, Any]) -> tuple[Any, Any]:
    title, summary, text = _doc(handler.func)
    name = _name_schema(handler.name, handler.path is not None)
    key_schema = describer.params(handler.key_signature)
    data_properties: dict[str, Any] = {
        "type": {"const": "data"},
        "channel": name,
        "data": describer.result(handler.func),
    }
    if handler.key_signature.key_params:
        data_properties["params"] = {
            **key_schema,
            "description": "The subscription key; only on a subscription made with an `id`.",
        }
    if handler.history_config is not None:
        data_properties["offset"] = {"type": "integer", "description": "Only with an `id`."}
        data_properties["epoch"] = {"type": "string", "description": "Only with an `id`."}
    messages = {
        "subscribe": _message(
            "subscribe",
            f"Subscribe to {handler.name}.",
            {
                "type": {"const": "subscribe"},
                "channel": name,
                "data": describer.params(handler.subscribe_signature),
                "id": ID_SCHEMA,
            },
            ["type", "channel"],
        ),
        "subscribed": _reply_message("subscribed", name),
        "unsubscribe": _message(
            "unsubscribe",
            f"Unsubscribe from {handler.name} (with `data`: that key only).",
            {
                "type": {"const": "unsubscribe"},
                "channel": name,
                "data": key_schema,
                "id": ID_SCHEMA,
            },
            ["type", "channel"],
        ),
        "unsubscribed": _reply_message("unsubscribed", name),
        "data": _message(
            "data",
            summary or f"A broadcast of {handler.name}.",
            data_properties,
            ["type", "channel", "data"],
            text,
        ),
        "error": {"$ref": "#/components/messages/error"},
    }
    channel: dict[str, Any] = {
        "address": handler.name,
        "title": title or handler.name,
        "messages": messages,
    }
    if text:
        channel["description"] = text
    _describe_path(channel, handler.path, handler.signature)
    ref = f"#/channels/{key}"
    operations = {
        f"{key}.subscribe": {
            "action": "receive",
            "channel": {"$ref": ref},
            "summary": f"Subscribe to {handler.name}.",
            "messages": [{"$ref": f"{ref}/messages/subscribe"}],
            "reply": {
                "channel": {"$ref": ref},
                "messages": [
                    {"$ref": f"{ref}/messages/subscribed"},
                    {"$ref": f"{ref}/messages/error"},
                ],
            },
        },
        f"{key}.unsubscribe": {
            "action": "receive",
            "channel": {"$ref": ref},
            "summary": f"Unsubscribe from {handler.name}.",
            "messages": [{"$ref": f"{ref}/messages/unsubscribe"}],
            "reply": {
                "channel": {"$ref": ref},
                "messages": [{"$ref": f"{ref}/messages/unsubscribed"}],
            },
        },
        f"{key}.data": {
            "action": "send",
            "channel": {"$ref": ref},
            "summary": summary or f"Broadcasts of {handler.name} to its subscribers.",
            "messages": [{"$ref": f"{ref}/messages/data"}],
        },
    }
    return channel, operations


def _describe_path(channel: dict[str, Any], path: Any, signature: CompiledSignature) -> None:
    if path is None:
        return
    channel["parameters"] = {
        name: {"description": f"`{name}` of {signature.func_name}(), one segment (no `/`)."}
        for name in path.params
    }


def _name_schema(name: str, is_pattern: bool) -> dict[str, Any]:
    if not is_pattern:
        return {"const": name}
    literal = "".join(
        "[^/]+" if re.fullmatch(r"\{\w+\}", part) else re.escape(part)
        for part in re.split(r"(\{\w+\})", name)
    )
    return {"type": "string", "pattern": f"^{literal}$", "description": f"`{name}`, concrete."}


def _message(
    name: str,
    summary: str,
    properties: dict[str, Any],
    required: list[str],
    description: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "summary": summary,
        "payload": {"type": "object", "properties": properties, "required": required},
    }
    if "id" in properties:
        message["correlationId"] = CORRELATION
    if description:
        message["description"] = description
    return message


def _reply_message(kind: str, name: dict[str, Any]) -> dict[str, Any]:
    return _message(
        kind,
        f"The server's `{kind}` reply.",
        {"type": {"const": kind}, "channel": name, "id": ID_SCHEMA},
        ["type", "channel"],
    )


def _components(schemas: dict[str, Any]) -> dict[str, Any]:
    error = _message(
        "error",
        "An error frame: the request failed, nothing else changed.",
        {
            "type": {"const": "error"},
            "message": {"type": "string"},
            "id": ID_SCHEMA,
            "channel": {"type": "string", "description": "Only with an `id`."},
            "errors": {
                "type": "array",
                "description": "Validation errors (`loc`, `msg`, `type`); only with an `id`.",
                "items": {
                    "type": "object",
                    "properties": {
                        "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                        "msg": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            },
        },
        ["type", "message"],
    )
    close_codes = "\n".join(
        f"- {int(code)} ({code.name}): {CLOSE_REASONS[code]}"
        for code in CloseCode
        if code in CLOSE_REASONS
    )
    error["description"] = (
        "Every frame is one JSON object with `type` and `channel`. A message that carries an"
        " `id` gets it back in its reply, which opts that exchange into the extensions. The"
        " server closes a connection with these codes:\n" + close_codes
    )
    return {
        "schemas": schemas,
        "messages": {"error": error},
        "correlationIds": {
            "id": {
                "description": "The `id` a client puts on a message comes back on its reply.",
                "location": "$message.payload#/id",
            }
        },
        "x-close-codes": {
            str(int(code)): CLOSE_REASONS[code] for code in CloseCode if code in CLOSE_REASONS
        },
    }


class _Ids:
    """AsyncAPI keys for handlers: ``action.add``, ``channel.chat_room``; names with other
    characters (``chat/{room_id}``) made safe, and unique."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def make(self, kind: str, name: str) -> str:
        base = f"{kind}.{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_') or 'x'}"
        key, n = base, 1
        while key in self._taken:
            n += 1
            key = f"{base}_{n}"
        self._taken.add(key)
        return key


def _doc(func: Callable[..., Any]) -> tuple[str | None, str | None, str | None]:
    """(title, summary, description) from a docstring: its first line is both title and
    summary, the rest the description."""
    doc = inspect.getdoc(func)
    if not doc:
        return None, None, None
    first, _, rest = doc.partition("\n")
    return (
        first.strip().rstrip(".") or None,
        doc.partition("\n\n")[0].replace("\n", " ").strip(),
        rest.strip() or None,
    )


def _return_annotation(func: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(inspect.unwrap(func), include_extras=True)
    except Exception:  # an annotation that names a class local to a function
        return inspect.Signature.empty
    return hints.get("return", inspect.Signature.empty)
