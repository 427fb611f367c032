"""The command line's refusals: what a mistyped ``python -m trio_socketapi`` says, and that it
says it before serving anything. (Serving through the command line is tested end to end in
``test_example_app.py`` and ``test_redis_broker.py``.)"""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
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
        (
            "benchmarks.apps.trio_app:nope",
            "error: module 'benchmarks.apps.trio_app' has no attribute 'nope' (its apps: app)",
        ),
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


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


RUN_APP = "from trio_socketapi import SocketAPI; SocketAPI().run('127.0.0.1', {port})"


@pytest.mark.parametrize("way", ["app.run()", "command line"])
def test_a_busy_port_is_one_line_naming_host_and_port(busy_port: int, way: str) -> None:
    if way == "app.run()":
        command = [sys.executable, "-c", RUN_APP.format(port=busy_port)]
    else:
        command = [sys.executable, "-m", "trio_socketapi", APP, "--host", "127.0.0.1"]
        command += ["--port", str(busy_port)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert (
        result.stderr == f"error: cannot listen on 127.0.0.1:{busy_port}: Address already in use\n"
    )


def test_an_address_that_is_not_this_machines_names_it() -> None:
    with pytest.raises(SystemExit) as exited:
        SocketAPI().run("192.0.2.1", 0)  # TEST-NET-1: never a local address
    assert str(exited.value.code).startswith("error: cannot listen on 192.0.2.1:0: ")
