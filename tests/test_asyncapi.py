"""The AsyncAPI 3.0 document: valid against the official 3.0.0 JSON Schema (shipped in
tests/asyncapi/ with its licence) for the example app and for an app using every feature; its
contents; the command line (JSON and YAML); and ``GET /asyncapi.json``."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trio
import yaml

from tests.describe_app import app as everything
from trio_socketapi import Settings, SocketAPI

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_app"


@cache
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((ROOT / "tests" / "asyncapi" / "asyncapi-3.0.0.json").read_text())
    return jsonschema.Draft7Validator(schema)


def assert_valid(document: dict[str, Any]) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(document)
    ]
    assert errors == []


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "trio_socketapi", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_schema_check_refuses_a_broken_document() -> None:
    document = everything.asyncapi()
    document["operations"]["action.add"]["action"] = "publish"  # AsyncAPI 2's word
    assert list(validator().iter_errors(document))


def test_the_example_apps_document_from_the_command_line_is_valid() -> None:
    done = cli("asyncapi", "main:app", cwd=EXAMPLE)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert_valid(document)
    assert document["servers"]["default"] == {
        **document["servers"]["default"],
        "host": "127.0.0.1:8000",
        "protocol": "ws",
    }
    assert "action.get_user" in document["channels"]


def test_yaml_output_is_the_same_document() -> None:
    done = cli("asyncapi", "tests.describe_app:app", "--format", "yaml")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == json.loads(json.dumps(everything.asyncapi()))


def test_a_bad_app_spec_is_one_line_and_exit_status_1() -> None:
    done = cli("asyncapi", "nosuchmodule:app")
    assert done.returncode == 1 and "cannot import" in done.stderr


def test_the_document_of_every_feature_is_valid_and_says_what_the_wire_does() -> None:
    document = everything.asyncapi()
    assert_valid(document)
    assert document["info"] == {
        "title": "Everything",
        "version": "2.1.0",
        "description": "Every *feature*, described.",
    }
    channels, operations = document["channels"], document["operations"]
    add = channels["action.add"]
    assert add["title"] == "Add two numbers"
    assert add["description"] == "The second defaults to zero."
    request = add["messages"]["request"]["payload"]["properties"]
    assert request["type"] == {"const": "action"} and request["channel"] == {"const": "add"}
    assert request["data"]["required"] == ["a"]
    assert set(request["data"]["properties"]) == {"a", "b"}
    result = add["messages"]["result"]["payload"]["properties"]["data"]
    assert result == {"type": "integer"}
    assert operations["action.add"]["action"] == "receive"
    reply = operations["action.add"]["reply"]["messages"]
    assert {"$ref": "#/channels/action.add/messages/error"} in reply

    # Connection parameters are never client parameters; a dependency's are nested.
    area = channels["action.area"]["messages"]["request"]["payload"]["properties"]["data"]
    assert set(area["properties"]) == {"shape"}
    assert "oneOf" in area["properties"]["shape"] or "anyOf" in area["properties"]["shape"]
    whoami = channels["action.whoami"]["messages"]["request"]["payload"]["properties"]["data"]
    assert whoami["properties"]["user"]["properties"] == {
        "token": {"title": "Token", "type": "string"}
    }
    assert whoami["required"] == ["user"]
    ticks = channels["channel.ticks"]["messages"]["subscribe"]["payload"]["properties"]["data"]
    assert ticks["properties"] == {}

    # Dynamic paths: the address keeps the template, its parameters are channel parameters.
    chat = channels["channel.chat_room_id"]
    assert chat["address"] == "chat/{room_id}"
    assert set(chat["parameters"]) == {"room_id"}
    name = chat["messages"]["data"]["payload"]["properties"]["channel"]
    assert name["pattern"] == "^chat/[^/]+$"
    data = chat["messages"]["data"]["payload"]["properties"]
    assert {"offset", "epoch", "params"} <= set(data)  # history and key extensions
    assert set(data["params"]["properties"]) == {"room_id", "lang"}
    assert data["data"]["anyOf"][0] == {"$ref": "#/components/schemas/ChatMessage"}
    join = channels["action.rooms_room_id_join"]
    assert join["address"] == "rooms/{room_id}/join" and set(join["parameters"]) == {"room_id"}
    for kind in ("subscribe", "unsubscribe", "data"):
        assert f"channel.chat_room_id.{kind}" in operations
    assert operations["channel.chat_room_id.data"]["action"] == "send"

    # Models are components; the envelope's shared parts are described once.
    schemas = document["components"]["schemas"]
    assert {"ChatMessage", "Author", "Mood"} <= set(schemas)
    assert schemas["Author"]["properties"]["id"] == {
        "format": "uuid",
        "title": "Id",
        "type": "string",
    }
    assert document["components"]["correlationIds"]["id"]["location"] == "$message.payload#/id"
    assert document["components"]["x-close-codes"]["1001"] == "Server shutting down."
    assert "1013" in document["components"]["messages"]["error"]["description"]


def test_an_empty_app_is_a_valid_document() -> None:
    assert_valid(SocketAPI().asyncapi())


async def get(port: int, path: str) -> tuple[bytes, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        received = b""
        while chunk := await stream.receive_some(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("on", [True, False])
async def test_asyncapi_json_is_served_unless_turned_off(on: bool) -> None:
    app = SocketAPI(settings=Settings(serve_asyncapi=on))

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            head, body = await get(port, "/asyncapi.json")
            nursery.cancel_scope.cancel()
    if on:
        assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Type: application/json" in head
        served = app.asyncapi(host="127.0.0.1", port=port)
        assert json.loads(body) == json.loads(json.dumps(served))
    else:
        assert head.startswith(b"HTTP/1.1 404 ")


async def test_asyncapi_json_names_the_port_the_server_got_not_the_zero_it_asked_for() -> None:
    app = SocketAPI(host="localhost", port=8123)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(app.serve, "127.0.0.1", 0)
            _, body = await get(port, "/asyncapi.json")
            nursery.cancel_scope.cancel()
    assert port != 0
    assert json.loads(body)["servers"]["default"]["host"] == f"127.0.0.1:{port}"
    # The app's own description still names the address it was configured with.
    assert app.asyncapi()["servers"]["default"]["host"] == "localhost:8123"


def test_asyncapi_can_name_another_address() -> None:
    app = SocketAPI(host="localhost", port=8123)
    document = app.asyncapi(host="api.example.com", port=443)
    assert document["servers"]["default"]["host"] == "api.example.com:443"
