"""Plain HTTP on the WebSocket port: parsing a request head and choosing the answer, without I/O.

A connection whose request is not a WebSocket upgrade gets one HTTP/1.1 answer and is closed
(``Connection: close``; no keep-alive, no request bodies read). The rules, in the order applied:

- a head that does not parse (request line, header syntax, HTTP/1.1 without ``Host``): 400;
- a ``Host`` the server does not answer to (``Settings.allowed_hosts``, as for the WebSocket
  handshake, against DNS rebinding): 400;
- a method other than ``GET`` or ``HEAD``: 405 with ``Allow: GET, HEAD``;
- ``/healthz``: 200 ``ok`` while serving, 503 once shutdown has begun;
- ``/metrics`` (only if ``Settings.serve_metrics``) and ``/asyncapi.json`` (unless
  ``Settings.serve_asyncapi`` is off): the documents the server hands in;
- ``/socketapi.js``, ``/socketapi.d.ts``: the JS client shipped in ``trio_socketapi/js/``;
- a path under an ``app.static`` mount: a ``StaticFile`` for the I/O layer to read;
- anything else: 404.

Static paths are checked here lexically (percent-decoded, then no ``..``, no ``.``-segments or
dotfiles, no backslash or NUL); the I/O layer then checks that the resolved file (symlinks
followed) is still inside the mounted directory. A directory is never listed: it is served
only through its ``index.html``.
"""

from __future__ import annotations

import http
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import attrs

from ._handshake import INVALID_HOST, host_allowed

JS_DIRECTORY = Path(__file__).resolve().parent / "js"
"""Where the JS client's files are, served at ``/socketapi.js`` and ``/socketapi.d.ts``."""
JS_FILES = ("socketapi.js", "socketapi.d.ts")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",  # TypeScript source is shown, not run
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
"""Content types by suffix: a fixed table, so an answer does not depend on the host's
``/etc/mime.types``. Anything else is ``application/octet-stream``."""
PLAIN_TEXT = "text/plain; charset=utf-8"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_VERSION = re.compile(rb"HTTP/1\.[01]")


class MalformedRequest(ValueError):
    """The request head is not valid HTTP/1.x; answered with 400."""


@attrs.frozen
class HttpRequest:
    """A parsed request head."""

    method: str
    """The method as sent (methods are case-sensitive: ``get`` is not ``GET``)."""
    target: str
    """The request target, e.g. ``/healthz?x=1``."""
    version: str
    """``HTTP/1.0`` or ``HTTP/1.1``."""
    headers: Mapping[str, str]
    """Header values by lower-cased name; a repeated header's values joined with ``", "``."""

    @property
    def path(self) -> str:
        """The target's path, without the query string (still percent-encoded)."""
        return urlsplit(self.target).path or "/"

    @property
    def is_websocket_upgrade(self) -> bool:
        """Whether the client asks for a WebSocket (its ``Upgrade`` header names ``websocket``).

        Such a request goes to the WebSocket handshake, which checks the rest of it.
        """
        upgrade = self.headers.get("upgrade", "")
        return any(token.strip().lower() == "websocket" for token in upgrade.split(","))


def parse_request_head(head: bytes) -> HttpRequest:
    """Parse a request head (request line and header lines, up to the blank line).

    Raises ``MalformedRequest`` for anything RFC 9112 calls invalid that matters here: a
    request line that is not ``METHOD SP target SP HTTP/1.x``, a target that is neither a path
    nor an absolute URL, a header line without a token name and colon, obsolete line folding,
    control characters in a value, or an HTTP/1.1 request without ``Host``.
    """
    lines = head.removesuffix(b"\r\n\r\n").split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise MalformedRequest("request line is not 'METHOD target HTTP/1.x'")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise MalformedRequest("method is not a token")
    if not _VERSION.fullmatch(version):
        raise MalformedRequest("not an HTTP/1.0 or HTTP/1.1 request")
    target_text = target.decode("latin-1")
    if not target_text.startswith("/"):
        split = urlsplit(target_text)
        if split.scheme not in ("http", "https", "ws", "wss") or not split.netloc:
            raise MalformedRequest("request target is neither a path nor an absolute URL")
    if not target or any(c <= 0x20 or c == 0x7F for c in target):
        raise MalformedRequest("request target contains a space or control character")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):  # also refuses obs-fold (leading space)
            raise MalformedRequest("header line is not 'name: value'")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise MalformedRequest("header value contains a control character")
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if version == b"HTTP/1.1" and "host" not in headers:
        raise MalformedRequest("HTTP/1.1 request without Host")
    return HttpRequest(method.decode("ascii"), target_text, version.decode("ascii"), headers)


@attrs.frozen
class HttpResponse:
    """One complete answer; ``encode`` gives its bytes."""

    status: int
    body: bytes = b""
    content_type: str = PLAIN_TEXT
    headers: tuple[tuple[str, str], ...] = ()
    """Headers besides Content-Type, Content-Length and Connection (which are always sent)."""

    def encode(self, *, head_only: bool = False) -> bytes:
        """The status line, headers and (unless ``head_only``, for HEAD) the body."""
        reason = http.HTTPStatus(self.status).phrase
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            "X-Content-Type-Options: nosniff",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


def text_response(status: int, text: str | None = None) -> HttpResponse:
    """A plain-text answer; the body defaults to the status's reason phrase."""
    body = http.HTTPStatus(status).phrase if text is None else text
    return HttpResponse(status, body.encode())


BAD_REQUEST = text_response(400)
HEAD_TOO_LARGE = text_response(431)


@attrs.frozen
class StaticMount:
    """``app.static(path, directory)``: files under ``directory`` served at ``prefix``."""

    prefix: str
    """The URL path it is mounted at, without a trailing slash (``""`` for ``/``)."""
    directory: Path
    """The directory, resolved when mounted."""


@attrs.frozen
class StaticFile:
    """A file to serve: the I/O layer reads it (or answers 404 if it is not inside ``root``)."""

    path: Path
    root: Path
    """The mounted directory the resolved file must be inside."""

    @property
    def content_type(self) -> str:
        """The content type for the file's suffix."""
        return content_type_for(self.path.name)


def content_type_for(filename: str) -> str:
    """The content type for a file name (``CONTENT_TYPES``, else ``application/octet-stream``)."""
    suffix = Path(filename).suffix.lower()
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def mount(path: str, directory: Path) -> StaticMount:
    """Check and normalise an ``app.static`` mount; raises ``ValueError`` for a bad path."""
    if not path.startswith("/") or any(s in (".", "..") for s in path.split("/")):
        raise ValueError(f"a static path must be an absolute URL path like '/static', got {path!r}")
    if not directory.is_dir():
        raise ValueError(f"static directory {str(directory)!r} is not a directory")
    return StaticMount(path.rstrip("/"), directory.resolve())


def static_file(mounts: Sequence[StaticMount], path: str) -> StaticFile | None:
    """The file a request path names under the longest matching mount, or ``None``.

    ``None`` (so 404) for a path that would leave the directory or names a dotfile.
    """
    for static in sorted(mounts, key=lambda m: len(m.prefix), reverse=True):
        if path != static.prefix and not path.startswith(static.prefix + "/"):
            continue
        relative = unquote(path[len(static.prefix) :], errors="strict")
        if "\\" in relative or "\x00" in relative:
            return None
        segments = [s for s in relative.split("/") if s]
        if any(s.startswith(".") for s in segments):  # "..", ".", and dotfiles like .env
            return None
        if not segments or relative.endswith("/"):
            segments.append("index.html")
        return StaticFile(static.directory.joinpath(*segments), static.directory)
    return None


@attrs.frozen
class Site:
    """What the HTTP answers of one server depend on, at the moment of a request."""

    serving: bool
    """``False`` once shutdown has begun."""
    metrics: Callable[[], str] | None
    """The Prometheus text, or ``None`` when ``/metrics`` is off."""
    asyncapi: Callable[[], bytes] | None
    """The AsyncAPI document as JSON, or ``None`` when ``/asyncapi.json`` is off."""
    mounts: Sequence[StaticMount]
    allowed_hosts: tuple[str, ...] | Literal["*"] = "*"
    """The ``Host`` patterns answered (see ``_handshake.host_allowed``)."""
    js_directory: Path = JS_DIRECTORY


def answer(request: HttpRequest, site: Site) -> HttpResponse | StaticFile:
    """The answer to a (non-upgrade) request: a response, or a file for the I/O layer to read."""
    if not host_allowed(request.headers.get("host"), site.allowed_hosts):
        return text_response(400, INVALID_HOST)
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(405, b"Method Not Allowed", headers=(("Allow", "GET, HEAD"),))
    path = request.path
    if path == "/healthz":
        return text_response(200, "ok") if site.serving else text_response(503, "shutting down")
    if path == "/metrics" and site.metrics is not None:
        return HttpResponse(200, site.metrics().encode(), METRICS_CONTENT_TYPE)
    if path == "/asyncapi.json" and site.asyncapi is not None:
        return HttpResponse(200, site.asyncapi(), "application/json")
    if path.startswith("/") and path[1:] in JS_FILES:
        return StaticFile(site.js_directory / path[1:], site.js_directory)
    try:
        found = static_file(site.mounts, path)
    except UnicodeDecodeError:  # percent-encoded bytes that are not UTF-8
        return text_response(404)
    return text_response(404) if found is None else found
