"""Telling a WebSocket upgrade from plain HTTP, and answering the latter: the I/O of ``_http``.

The server reads the request head itself (the handshake timeout bounds how long that may take)
and parses it once. An upgrade's bytes go on to the WebSocket handshake unchanged, so the
WebSocket path costs what it did: the same reads, one parse of a head of a few hundred bytes per
connection, nothing per message. Anything else gets its answer here, and the connection is
closed properly: the answer is sent, our side half-closed (TCP ``FIN``, so the client reads to
the end instead of meeting a reset), and what the client still sends is read and dropped for at
most ``LINGER`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ._http import (
    BAD_REQUEST,
    HEAD_TOO_LARGE,
    HttpResponse,
    MalformedRequest,
    Site,
    StaticFile,
    answer,
    parse_request_head,
    text_response,
)
from ._wire import MAX_REQUEST_HEAD

logger = logging.getLogger("trio_socketapi")

LINGER = 1.0
"""Seconds spent reading what a client still sends after its answer, before closing."""
LINGER_BYTES = 1 << 20
"""Bytes read and dropped while lingering, at most."""
RECEIVE_SIZE = 64 * 1024


async def answer_unless_upgrade(stream: trio.abc.Stream, site: Callable[[], Site]) -> bytes | None:
    """Read a request head; return the bytes read if it asks for a WebSocket, else answer it.

    Returns ``None`` once a plain HTTP request has been answered (or the client closed before
    sending a whole head); the caller then drops the connection.
    """
    received = bytearray()
    searched = 0
    while True:
        data = await stream.receive_some(RECEIVE_SIZE)
        if not data:
            return None
        received += data
        end = received.find(b"\r\n\r\n", searched)
        if end >= 0:
            break
        if len(received) > MAX_REQUEST_HEAD:
            await send_answer(stream, HEAD_TOO_LARGE)
            return None
        searched = max(0, len(received) - 3)  # the blank line may straddle two reads
    try:
        request = parse_request_head(bytes(received[: end + 4]))
    except MalformedRequest as exc:
        logger.debug("malformed HTTP request: %s", exc)
        await send_answer(stream, BAD_REQUEST)
        return None
    if request.is_websocket_upgrade:
        return bytes(received)
    outcome = answer(request, site())
    response = await read_static(outcome) if isinstance(outcome, StaticFile) else outcome
    logger.debug("http %s %s -> %d", request.method, request.path, response.status)
    await send_answer(stream, response, head_only=request.method == "HEAD")
    return None


async def read_static(file: StaticFile) -> HttpResponse:
    """The file as a 200 answer, or 404 if it is missing, not a file, or resolves outside its
    mounted directory (a symlink pointing out of it)."""

    def read() -> bytes | None:
        try:
            resolved = file.path.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return None
        if not resolved.is_relative_to(file.root) or not resolved.is_file():
            return None
        try:
            return resolved.read_bytes()
        except OSError:
            return None

    body = await trio.to_thread.run_sync(read)
    if body is None:
        return text_response(404)
    return HttpResponse(200, body, file.content_type)


async def send_answer(
    stream: trio.abc.Stream, response: HttpResponse, *, head_only: bool = False
) -> None:
    """Send ``response``, then close our side and linger briefly (see the module docstring)."""
    try:
        await stream.send_all(response.encode(head_only=head_only))
        if isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
            with trio.move_on_after(LINGER):
                dropped = 0
                while dropped < LINGER_BYTES:
                    data = await stream.receive_some(RECEIVE_SIZE)
                    if not data:
                        break
                    dropped += len(data)
        else:  # TLS: no half-close; close_notify goes out with a graceful close
            with trio.move_on_after(LINGER):
                await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away first; nothing more to do
