"""The example app: six routers served as one WebSocket API.

Run it as a script from anywhere::

    python3 examples/my_app/main.py

or, from this directory, with the command line the package installs::

    python3 -m trio_socketapi main:app --host 127.0.0.1 --port 8000

Either way the routers are imported as the ``routers`` package next to this file, and the chat
page in ``static/`` is served at ``http://127.0.0.1:8000/`` (on the socket's own origin).
"""

from __future__ import annotations

from pathlib import Path

from routers import analytics, chat, clock, notifications, orders, users

from trio_socketapi import SocketAPI

app = SocketAPI(host="127.0.0.1", port=8000)
app.include_router(users.router)
app.include_router(chat.router)
app.include_router(notifications.router)
app.include_router(analytics.router)
app.include_router(orders.router)
app.include_router(clock.router)
app.static("/", Path(__file__).resolve().parent / "static")


def main() -> None:
    """Serve on 127.0.0.1:8000 until Ctrl-C."""
    url = f"ws://{app.host}:{app.port}/"
    signed_in = f"{url}?token=ada-token"  # signed in as Ada: every message of README.md works
    print(f"Example app starting on {url} (Ctrl-C stops it)")
    print(f"Chat in a browser: http://{app.host}:{app.port}/")
    print(f'Talk to it: python3 -m pip install websockets && python3 -m websockets "{signed_in}"')
    print('  then type: {"type": "action", "channel": "get_user", "data": {"user_id": 1}}')
    app.run()  # a busy port exits with one line: "error: cannot listen on 127.0.0.1:8000: ..."


if __name__ == "__main__":
    main()
