"""The JS client with ``compat: true`` against a real socketapi 0.2.0 server (uvicorn): actions,
an error, subscriptions and concurrent callers matched by order (``tests/node/compat.mjs``).
Runs in ``nox -s compat`` (which installs socketapi and uvicorn); skipped where they or ``node``
are not installed.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytest.importorskip("socketapi", reason="socketapi is installed by `nox -s compat` only")
pytest.importorskip("uvicorn", reason="uvicorn is installed by `nox -s compat` only")

from test_client_compat import SocketapiServer
from test_js import NODE_DIR, ROOT, node_flags
from test_socketapi_compat import stop

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def test_the_js_client_in_compat_mode_against_socketapi() -> None:
    server = SocketapiServer()
    try:
        script = str(NODE_DIR / "compat.mjs")
        url = f"ws://127.0.0.1:{server.port}/"
        result = subprocess.run(
            ["node", *node_flags(), script, url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        stop(server.process)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compat: all passed" in result.stdout, result.stdout
