"""TypeScript types: the mapping from JSON Schema as a table, then the generated module of the
example app and of an app using every feature compiled by ``tsc --strict --noEmit`` with a usage
file, and a usage with a wrong parameter type refused. TypeScript comes from tests/node
(``npm ci --prefix tests/node``, which the nox tests session runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trio_socketapi._typescript import to_type

ROOT = Path(__file__).resolve().parents[1]
TSC = ROOT / "tests" / "node" / "node_modules" / ".bin" / "tsc"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({}, "unknown"),
        ({"type": "string", "format": "date-time"}, "string"),
        ({"type": "string", "format": "uuid"}, "string"),
        ({"type": "integer"}, "number"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "null"}, "null"),
        ({"const": "circle"}, '"circle"'),
        ({"enum": ["a", "b", 1]}, '"a" | "b" | 1'),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "number | null"),
        ({"type": ["string", "null"]}, "string | null"),
        ({"type": "array", "items": {"$ref": "#/components/schemas/User"}}, "Array<User>"),
        (
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
            "[number, string]",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            "{ [key: string]: number }",
        ),
        ({"type": "object", "properties": {}}, "Record<string, never>"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b-c": {}},
                "required": ["a"],
            },
            '{\n  a: number;\n  "b-c"?: unknown;\n}',
        ),
    ],
)
def test_json_schema_to_typescript(schema: dict[str, object], expected: str) -> None:
    assert to_type(schema) == expected


GOOD_USAGE = """
import type { Api, User, Message } from "./api";

declare function action<N extends keyof Api["actions"]>(
  name: N, params: Api["actions"][N]["params"]
): Promise<Api["actions"][N]["result"]>;
declare function subscribe<N extends keyof Api["channels"]>(
  name: N, params: Api["channels"][N]["params"], onData: (data: Api["channels"][N]["data"]) => void
): void;

async function main(): Promise<void> {
  const user: User = await action("get_user", { user_id: 1 });
  const name: string = user.name;
  const history: Message[] = await action("get_history", { room_id: "general" });
  subscribe("chat_room", { room_id: "general" }, (m) => console.log(name, history.length, m));
}
void main;
"""

EVERYTHING_USAGE = """
import type { Api, ChatMessage } from "./api";

const sum: Api["actions"]["add"]["params"] = { a: 1 };
const shape: Api["actions"]["area"]["params"] = { shape: { kind: "square", side: 2 } };
const joined: Api["actions"]["rooms/{room_id}/join"]["result"] = [1, "anon"];
const subscribeChat: Api["channels"]["chat/{room_id}"]["params"] = { room_id: "42", lang: "fr" };
const tick: Api["channels"]["ticks"]["params"] = {};
const reply: Api["actions"]["area"]["params"]["shape"] = { kind: "circle", radius: 1 };
function show(message: Api["channels"]["chat/{room_id}"]["data"]): string {
  const m: ChatMessage | null = message;
  return m === null ? "" : `${m.author.name} (${m.author.mood}): ${m.text} at ${m.sent_at}`;
}
void [sum, shape, joined, subscribeChat, tick, reply, show];
"""

BAD_USAGE = """
import type { Api } from "./api";

declare function action<N extends keyof Api["actions"]>(
  name: N, params: Api["actions"][N]["params"]
): Promise<Api["actions"][N]["result"]>;

void action("get_user", { user_id: "one" });
"""


def typescript_of(spec: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "trio_socketapi", "typescript", spec],
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def tsc(directory: Path, api: str, usage: str) -> subprocess.CompletedProcess[str]:
    if not TSC.exists():
        if os.environ.get("TRIO_SOCKETAPI_REQUIRE_NODE") or shutil.which("node") is None:
            # CI (the nox session sets the variable) must run these; without node, skip.
            assert not os.environ.get("TRIO_SOCKETAPI_REQUIRE_NODE"), "npm ci --prefix tests/node"
            pytest.skip("node is not installed")
        pytest.skip("TypeScript is not installed: npm ci --prefix tests/node")
    (directory / "api.ts").write_text(api)
    (directory / "usage.ts").write_text(usage)
    return subprocess.run(
        [
            str(TSC),
            "--strict",
            "--noEmit",
            "--target",
            "es2020",
            "--module",
            "es2020",
            "--moduleResolution",
            "node",
            "usage.ts",
            "api.ts",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_example_apps_types_compile_strictly_and_refuse_a_wrong_type(tmp_path: Path) -> None:
    api = typescript_of("main:app", ROOT / "examples" / "my_app")
    assert "export interface Api {" in api and "export interface User {" in api
    done = tsc(tmp_path, api, GOOD_USAGE)
    assert done.returncode == 0, done.stdout + done.stderr
    done = tsc(tmp_path, api, BAD_USAGE)
    assert done.returncode != 0
    assert "usage.ts(8," in done.stdout and "error TS2322" in done.stdout, done.stdout


def test_the_types_of_every_feature_compile_strictly(tmp_path: Path) -> None:
    api = typescript_of("tests.describe_app:app", ROOT)
    done = tsc(tmp_path, api, EVERYTHING_USAGE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "connection" not in api  # Connection parameters are not the client's
