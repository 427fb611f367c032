"""The command line's refusals: what a mistyped ``python -m trio_socketapi`` says, and that it
says it before serving anything. (Serving through the command line is tested end to end in
``test_example_app.py`` and ``test_redis_broker.py``.)"""

from __future__ import annotations

import pytest
import trio

from trio_socketapi import SocketAPI
from trio_socketapi._cli import main

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
