"""The command line's refusals: what a mistyped ``python -m trio_socketapi`` says, and that it
says it before serving anything. (Serving through the command line is tested end to end in
``test_example_app.py`` and ``test_redis_broker.py``.)"""

from __future__ import annotations

import json
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trustme
from trio_websocket import open_websocket

from trio_socketapi import SocketAPI
from trio_socketapi._cli import main

ROOT = Path(__file__).resolve().parents[1]
APP = "benchmarks.apps.trio_app:app"


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("99999", "port must be 0-65535, got 99999"),  # the OS would serve on 99999 % 65536
        ("-1", "port must be 0-65535, got -1"),
        ("http", "not a port number: 'http'"),
    ],
)
def test_a_port_out_of_range_is_refused_before_serving(
    port: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([APP, "--port", port])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("benchmarks.apps.trio_app", "error: expected MODULE:APP (e.g. main:app)"),
        ("no_such_module_here:app", "error: cannot import 'no_such_module_here'"),
        ("benchmarks.apps.trio_app:nope", "is not a trio_socketapi.SocketAPI (got None)"),
        ("benchmarks.apps.trio_app:add", "is not a trio_socketapi.SocketAPI (got <action 'add'"),
    ],
)
def test_an_app_spec_that_names_no_app_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main([spec, "--port", "0"])
    assert message in str(exited.value.code)


async def test_serve_refuses_a_port_the_os_would_wrap_around() -> None:
    with trio.fail_after(5), pytest.raises(ValueError, match="port must be 0-65535, got 70000"):
        await SocketAPI().serve("127.0.0.1", 70000)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
async def test_the_command_line_serves_wss_with_a_certificate_file(tmp_path: Path) -> None:
    authority = trustme.CA()
    certfile = tmp_path / "server.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(certfile))
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    command = [sys.executable, "-m", "trio_socketapi", APP, "--host", "127.0.0.1", "--port", "0"]
    command += ["--ssl-certfile", str(certfile)]
    process = await trio.lowlevel.open_process(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = b""
    try:
        with trio.fail_after(15):
            while not (found := re.search(rb"serving on wss://127\.0\.0\.1:(\d+)/", output)):
                chunk = await process.stdout.receive_some()
                assert chunk, output.decode()
                output += chunk
            port = int(found.group(1))
            async with open_websocket("127.0.0.1", port, "/", use_ssl=client_context) as ws:
                message = {"type": "action", "channel": "add", "data": {"a": 2, "b": 3}}
                await ws.send_message(json.dumps(message))
                assert json.loads(await ws.get_message())["data"] == 5
                process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--ssl-certfile", "/no/such/cert.pem"], "error: cannot load the TLS certificate"),
        (["--ssl-keyfile", "/some/key.pem"], "error: --ssl-keyfile needs --ssl-certfile"),
    ],
)
def test_tls_files_that_cannot_be_used_are_refused_before_serving(
    arguments: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([APP, "--port", "0", *arguments])
    assert message in str(exited.value.code)
