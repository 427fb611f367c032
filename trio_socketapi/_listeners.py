"""Opening the TCP listeners, with ``SO_REUSEPORT`` when several worker processes share a port."""

from __future__ import annotations

import socket

import trio


class BindError(OSError):
    """The server cannot listen on its address; the message names the host and port."""

    def __init__(self, host: str | None, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.address = f"{show_host(host)}:{port}"
        self.reason = cause.strerror or str(cause)

    def __str__(self) -> str:
        return f"cannot listen on {self.address}: {self.reason}"


def show_host(host: str | None) -> str:
    """``host`` as it appears before ``:port`` (an IPv6 address in brackets; all interfaces:
    ``0.0.0.0``)."""
    if not host:
        return "0.0.0.0"
    return f"[{host}]" if ":" in host else host


async def open_listeners(
    host: str | None, port: int, *, reuse_port: bool
) -> list[trio.SocketListener]:
    """Listen on every address of ``host`` (all interfaces for ``None``) at ``port``.

    With ``port`` 0 only the first address is kept, so the server has exactly one port to report.
    With ``reuse_port`` each socket sets ``SO_REUSEPORT``, so the kernel spreads new connections
    over the processes listening on the same port. Raises ``BindError`` (an ``OSError`` naming
    ``host``:``port``) if an address cannot be bound (in use, not this machine's), or ``OSError``
    if ``reuse_port`` is asked for where the OS lacks ``SO_REUSEPORT``.
    """
    try:
        return await _open_listeners(host, port, reuse_port=reuse_port)
    except OSError as exc:
        if exc.errno is None:  # not the OS refusing the address (no SO_REUSEPORT)
            raise
        raise BindError(host, port, exc) from exc


async def _open_listeners(
    host: str | None, port: int, *, reuse_port: bool
) -> list[trio.SocketListener]:
    if not reuse_port:
        listeners = await trio.open_tcp_listeners(port, host=host)
        if port == 0:
            for extra in listeners[1:]:
                await extra.aclose()
            listeners = listeners[:1]
        return listeners
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("SO_REUSEPORT is not available on this platform")
    addresses = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listeners = []
    try:
        for family, kind, proto, _, address in addresses:
            sock = trio.socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                await sock.bind(address)
                sock.listen(socket.SOMAXCONN)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            await listener.aclose()
        raise
    return listeners
