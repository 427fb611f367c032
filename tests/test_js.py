"""The JavaScript client: ``tsc --strict`` on its types, its behaviour tests in Node, and the
browser tests in headless Chromium (``tests/node/browser.mjs``: the behaviour tests again, the
example's chat page end to end, and the screenshot in docs/).

Node's packages (typescript, playwright-core) come from ``npm ci --prefix tests/node``, which the
nox ``tests`` session runs. Skipped only where ``node`` itself is missing (or, for the browser
tests, Chromium); CI installs both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "node"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TSC = str(NODE_DIR / "node_modules" / ".bin" / "tsc")

if shutil.which("node") is None and os.environ.get("TRIO_SOCKETAPI_REQUIRE_NODE"):
    raise RuntimeError("node is required here (TRIO_SOCKETAPI_REQUIRE_NODE) but not installed")
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def node_flags() -> list[str]:
    """Node 22+ has a global WebSocket; Node 20 and 21 have it behind a flag."""
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    major = int(re.match(r"v(\d+)", version.stdout.strip())[1])  # type: ignore[index]
    return ["--experimental-websocket"] if major < 22 else []


def run_node(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("tests/node has no node_modules: run `npm ci --prefix tests/node`")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "CHROMIUM": CHROMIUM}
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_tsc_strict_accepts_the_typed_calls_and_rejects_every_wrong_one() -> None:
    result = run_node([TSC, "-p", str(NODE_DIR)], 120)
    assert result.returncode == 0, result.stdout + result.stderr


GENERATED_USAGE = """
import {{ connect }} from "{client}";
import type {{ Api, Message, User }} from "./api";

export async function chat(): Promise<void> {{
  const client = connect<Api>("ws://127.0.0.1:8000/?token=ada-token");
  const user: User = await client.action("get_user", {{ user_id: 1 }});
  const history: Array<Message> = await client.action("get_history", {{ room_id: "a" }});
  await client.action("update_my_status", {{ status: "away" }});
  const sub = client.subscribe("chat_room", {{ room_id: "a" }}, (message) => console.log(message));
  client.subscribe("clock", {{}}, (time: string) => console.log(time));
  // @ts-expect-error status is one of three strings
  await client.action("update_my_status", {{ status: "asleep" }});
  // @ts-expect-error room_id is required
  client.subscribe("chat_room", {{}});
  sub.unsubscribe();
  console.log(user.name, history.length);
}}
"""

WRONG_USAGE = """
import {{ connect }} from "{client}";
import type {{ Api }} from "./api";

const client = connect<Api>("ws://127.0.0.1:8000/");
export const wrong = () => client.action("get_user", {{ user_id: "1" }});
"""


def compile_with_generated_api(directory: Path, usage: str) -> subprocess.CompletedProcess[str]:
    """``tsc --strict`` on ``usage`` beside the api.ts the CLI generates for the example app."""
    generated = subprocess.run(
        [sys.executable, "-m", "trio_socketapi", "typescript", "main:app"],
        cwd=ROOT / "examples" / "my_app",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (directory / "api.ts").write_text(generated.stdout)
    client = ROOT / "trio_socketapi" / "js" / "socketapi.js"
    (directory / "usage.ts").write_text(usage.format(client=client))
    config = {"extends": str(NODE_DIR / "tsconfig.json"), "include": ["*.ts"]}
    (directory / "tsconfig.json").write_text(json.dumps(config))
    return run_node([TSC, "-p", str(directory)], 120)


def test_connect_is_typed_by_the_generated_api_ts(tmp_path: Path) -> None:
    result = compile_with_generated_api(tmp_path, GENERATED_USAGE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_call_fails_tsc(tmp_path: Path) -> None:
    result = compile_with_generated_api(tmp_path, WRONG_USAGE)
    assert result.returncode != 0
    assert "usage.ts(6," in result.stdout, result.stdout
    assert "not assignable to type 'number'" in result.stdout, result.stdout


def test_the_js_client_behaves_in_node() -> None:
    result = run_node(["node", *node_flags(), "--test", str(NODE_DIR / "client.test.mjs")], 120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^# fail 0$", result.stdout, flags=re.MULTILINE), result.stdout
    assert re.search(r"^# pass [1-9]", result.stdout, flags=re.MULTILINE), result.stdout


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_in_chromium_the_client_behaves_and_two_pages_chat() -> None:
    result = run_node(["node", str(NODE_DIR / "browser.mjs")], 170)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^browser: \d+ passed, 0 failed$", result.stdout, flags=re.MULTILINE), (
        result.stdout
    )
