"""A small, misbehaving-on-demand HTTP/1.1 file server for tests.

The server is built on :mod:`http.server` only.  It binds ``127.0.0.1`` on an
ephemeral port, serves every connection in a daemon thread and supports
keep-alive, byte ranges, ``If-Range``, redirects and chunked bodies.  Tests
queue :class:`Fault` objects per path to make individual requests fail in
specific ways (error statuses, truncated or corrupted bodies, stalls, resets,
...).

Typical use::

    with FileServer().start() as server:
        server.add_file("/model.bin", payload)
        server.queue("/model.bin", Fault(status=503, retry_after="1"))
        download(server.url("/model.bin"))
        assert len(server.requests_for("/model.bin")) == 2
"""

from __future__ import annotations

import collections
import contextlib
import gzip as gzip_module
import hashlib
import http.server
import re
import select
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal, Self, cast

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

__all__ = ["Fault", "FileServer", "RecordedRequest"]

#: Size of the slices the body is written in.
CHUNK_SIZE = 256 * 1024
#: The fixed ``Last-Modified`` value sent for every file.
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
#: Upper bound for how long a ``stall_after`` fault keeps a connection silent.
STALL_CAP_SECONDS = 30.0
#: How often blocked handlers re-check the stop event / the peer.
_POLL_SECONDS = 0.02
#: How long :meth:`FileServer.close` waits for handler threads in total.
_JOIN_SECONDS = 5.0

_XOR_TABLE = bytes(b ^ 0xFF for b in range(256))


def _non_negative(_inst: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    """Reject negative byte counts."""
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _valid_drip(
    _inst: object,
    _attribute: attrs.Attribute[tuple[int, float] | None],
    value: tuple[int, float] | None,
) -> None:
    """Reject nonsensical drip settings."""
    if value is None:
        return
    per_write, interval = value
    if per_write <= 0 or interval < 0:
        raise ValueError(f"drip must be (bytes_per_write > 0, seconds >= 0), got {value!r}")


@attrs.frozen(kw_only=True)
class Fault:
    """One misbehaviour applied to exactly one request of a path.

    Faults are queued per path and consumed in order, one per request (GET or
    HEAD, whatever its outcome); when the queue is empty the path behaves
    normally.  Several switches may be combined in one fault: content switches
    (``wrong_bytes``, ``etag``, range handling, ``gzip``) shape the response,
    delivery switches (``drip``, ``drop_after``/``reset``, ``stall_after``)
    govern how its body is sent.  Delivery switches do nothing for HEAD.
    """

    #: Answer with this status and a short text body instead of the file.
    status: int | None = None
    #: Value for a ``Retry-After`` header (normally combined with ``status``).
    retry_after: str | None = None
    #: Send headers (full length) and then only this many body bytes, then close.
    drop_after: int | None = attrs.field(default=None, validator=_non_negative)
    #: Close with ``SO_LINGER`` 0 so the client sees a RST (``ECONNRESET``).
    #: Combined with ``drop_after``; on its own it behaves like ``drop_after=0``.
    reset: bool = False
    #: Serve the same length but corrupted content (every byte xor 0xFF).
    wrong_bytes: bool = False
    #: ``(bytes_per_write, seconds_between_writes)``: send the body slowly.
    drip: tuple[int, float] | None = attrs.field(default=None, validator=_valid_drip)
    #: Send this many body bytes, then go silent until the client disconnects,
    #: the server closes, or :data:`STALL_CAP_SECONDS` pass; never closes first.
    stall_after: int | None = attrs.field(default=None, validator=_non_negative)
    #: Answer a Range request with 200 and the full body.
    ignore_range: bool = False
    #: Answer a Range request with 206 whose ``Content-Range`` claims this start
    #: offset; the body is still the requested bytes (same length).
    bad_content_range_start: int | None = attrs.field(default=None, validator=_non_negative)
    #: Answer a Range request with a 206 of at most this many bytes, honestly labelled
    #: (some CDNs cap the size of a range); the client must ask again for the rest.
    cap_range: int | None = attrs.field(default=None, validator=_non_negative)
    #: Serve this ETag for this one request (simulates the file changing); it
    #: is also the value ``If-Range`` is compared against.
    etag: str | None = None
    #: If the request's ``Accept-Encoding`` allows gzip, answer 200 with
    #: ``Content-Encoding: gzip`` and the gzip-compressed full body (any Range
    #: is ignored).  Otherwise the response is served as identity.
    gzip: bool = False


@attrs.frozen
class RecordedRequest:
    """A request as seen by the server."""

    #: The request method, e.g. ``"GET"``.
    method: str
    #: The request target: path including the query string.
    path: str
    #: Request headers with lower-cased names (repeated headers joined by ", ").
    headers: dict[str, str]


@attrs.frozen
class _File:
    """A file registered with :meth:`FileServer.add_file`."""

    data: bytes
    etag: str
    accept_ranges: bool
    headers: dict[str, str]
    content_length: bool


@attrs.frozen
class _Redirect:
    """A redirect registered with :meth:`FileServer.add_redirect`."""

    location: str
    status: int


_UNSATISFIABLE: Literal["unsatisfiable"] = "unsatisfiable"


_RANGE_RE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


def _parse_range(value: str, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """Parse a ``Range`` header against a body of ``size`` bytes.

    Returns ``(start, end_inclusive)`` for one satisfiable range,
    ``"unsatisfiable"`` for a well-formed range outside the body, and ``None``
    when the header must be ignored (malformed, other unit, several ranges).
    """
    match = _RANGE_RE.fullmatch(value.strip())
    if match is None or match[1] == match[2] == "":
        return None
    if match[1] == "":  # suffix range: the last n bytes
        suffix = int(match[2])
        result = (max(0, size - suffix), size - 1) if suffix > 0 else None
    else:
        start = int(match[1])
        end = int(match[2]) if match[2] else size - 1
        if end < start:
            return None
        result = (start, min(end, size - 1))
    if result is None or result[0] >= size:
        return _UNSATISFIABLE
    return result


def _accepts_gzip(value: str | None) -> bool:
    """Tell whether an ``Accept-Encoding`` value allows gzip."""
    if not value:
        return False
    for item in value.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(raw.strip())
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


class _HTTPServer(http.server.ThreadingHTTPServer):
    """The listening server; connection threads are tracked by the owner."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, owner: FileServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` performs."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about errors of connections the server is tearing down."""
        if self.owner.stopping:
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Request handler implementing files, ranges, redirects and faults."""

    protocol_version = "HTTP/1.1"
    server_version = "model-fetch-test-server/1"
    disable_nagle_algorithm = True

    # -- plumbing ---------------------------------------------------------

    @property
    def _owner(self) -> FileServer:
        """The :class:`FileServer` this handler serves."""
        return cast("_HTTPServer", self.server).owner

    def setup(self) -> None:
        """Register the connection so :meth:`FileServer.close` can cut it."""
        super().setup()
        self._owner._register(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self._owner._unregister(self.connection)

    def handle(self) -> None:
        """Serve the connection, ignoring clients that go away."""
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except OSError:
            self.close_connection = True
            if not self._owner.stopping:
                raise

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Suppress the default request logging to stderr."""

    # -- methods ----------------------------------------------------------

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._serve(head=False)

    def do_HEAD(self) -> None:
        """Serve a HEAD request."""
        self._serve(head=True)

    def _not_allowed(self) -> None:
        """Answer any other method with 405 and close the connection."""
        self._owner._record(self._recorded())
        body = b"method not allowed\n"
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """Refuse POST."""
        self._not_allowed()

    def do_PUT(self) -> None:
        """Refuse PUT."""
        self._not_allowed()

    def do_DELETE(self) -> None:
        """Refuse DELETE."""
        self._not_allowed()

    def do_OPTIONS(self) -> None:
        """Refuse OPTIONS."""
        self._not_allowed()

    # -- request handling ---------------------------------------------------

    def _recorded(self) -> RecordedRequest:
        """Snapshot the current request."""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return RecordedRequest(self.command, self.path, headers)

    def _serve(self, *, head: bool) -> None:
        """Record the request, pick its fault and answer it."""
        owner = self._owner
        owner._record(self._recorded())
        path = urllib.parse.urlsplit(self.path).path
        entry, fault = owner._lookup(path)
        if fault is not None and fault.status is not None:
            self._send_status(fault.status, fault, head=head)
        elif isinstance(entry, _Redirect):
            self._send_redirect(entry, fault, head=head)
        elif isinstance(entry, _File):
            self._send_file(entry, fault, head=head)
        else:
            self._send_status(404, fault, head=head)

    def _send_simple(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        head: bool,
    ) -> None:
        """Send a small, fully-framed response."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        no_body = status in (204, 304) or status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and not no_body:
            self.wfile.write(body)

    def _send_status(self, status: int, fault: Fault | None, *, head: bool) -> None:
        """Answer with ``status`` and a short text body."""
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if fault is not None and fault.retry_after is not None:
            headers.append(("Retry-After", fault.retry_after))
        self._send_simple(status, headers, f"simulated status {status}\n".encode(), head=head)

    def _send_redirect(self, entry: _Redirect, fault: Fault | None, *, head: bool) -> None:
        """Answer with a redirect."""
        headers = [("Location", entry.location), ("Content-Type", "text/plain; charset=utf-8")]
        if fault is not None and fault.retry_after is not None:
            headers.append(("Retry-After", fault.retry_after))
        self._send_simple(entry.status, headers, f"see {entry.location}\n".encode(), head=head)

    def _send_file(self, entry: _File, fault: Fault | None, *, head: bool) -> None:
        """Answer with (part of) a file, applying the fault's switches."""
        fault = fault or Fault()
        data = entry.data.translate(_XOR_TABLE) if fault.wrong_bytes else entry.data
        etag = fault.etag if fault.etag is not None else entry.etag
        status, body, extra = self._select(entry, fault, data, etag)

        headers: dict[str, tuple[str, str]] = {}
        defaults = {
            "Content-Type": "application/octet-stream",
            "ETag": etag,
            "Last-Modified": LAST_MODIFIED,
        }
        if entry.accept_ranges:
            defaults["Accept-Ranges"] = "bytes"
        if fault.retry_after is not None:
            defaults["Retry-After"] = fault.retry_after
        for source in (defaults, extra, entry.headers):
            for name, value in source.items():
                headers[name.lower()] = (name, value)

        if status == HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE:
            self._send_simple(status, headers.values(), body.tobytes(), head=head)
            return
        if entry.content_length:
            headers["content-length"] = ("Content-Length", str(len(body)))
        else:
            headers["transfer-encoding"] = ("Transfer-Encoding", "chunked")
        self.send_response(status)
        for name, value in headers.values():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self._send_body(body, fault, chunked=not entry.content_length)

    def _select(
        self,
        entry: _File,
        fault: Fault,
        data: bytes,
        etag: str,
    ) -> tuple[int, memoryview, dict[str, str]]:
        """Choose status, body and representation headers for a file request."""
        size = len(data)
        if fault.gzip and _accepts_gzip(self.headers.get("Accept-Encoding")):
            compressed = gzip_module.compress(data, mtime=0)
            return HTTPStatus.OK, memoryview(compressed), {"Content-Encoding": "gzip"}
        range_header = self.headers.get("Range")
        if (
            range_header is None
            or not entry.accept_ranges
            or fault.ignore_range
            or not self._if_range_holds(etag)
        ):
            return HTTPStatus.OK, memoryview(data), {}
        parsed = _parse_range(range_header, size)
        if parsed is None:
            return HTTPStatus.OK, memoryview(data), {}
        if parsed == _UNSATISFIABLE:
            return (
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                memoryview(b"range not satisfiable\n"),
                {"Content-Range": f"bytes */{size}"},
            )
        start, end = parsed
        if fault.cap_range is not None:
            end = min(end, start + fault.cap_range - 1)
        claimed = start if fault.bad_content_range_start is None else fault.bad_content_range_start
        content_range = f"bytes {claimed}-{claimed + end - start}/{size}"
        return (
            HTTPStatus.PARTIAL_CONTENT,
            memoryview(data)[start : end + 1],
            {
                "Content-Range": content_range,
            },
        )

    def _if_range_holds(self, etag: str) -> bool:
        """Evaluate ``If-Range``: ``True`` when the Range may be honoured."""
        value = self.headers.get("If-Range")
        if value is None:
            return True
        value = value.strip()
        if value.startswith(('"', "W/")):
            return not value.startswith("W/") and not etag.startswith("W/") and value == etag
        return value == LAST_MODIFIED

    # -- body delivery ------------------------------------------------------

    def _write_payload(self, piece: memoryview, *, chunked: bool) -> None:
        """Write one piece of the body, chunk-framed if needed (and paced to ``rate_limit``)."""
        rate = self._owner.rate_limit
        if rate:
            self._owner._stop.wait(len(piece) / rate)
        if chunked:
            self.wfile.write(b"".join((f"{len(piece):x}\r\n".encode(), piece, b"\r\n")))
        else:
            self.wfile.write(piece)
        self._owner._count(len(piece))

    def _send_body(self, body: bytes | memoryview, fault: Fault, *, chunked: bool) -> None:
        """Send ``body`` honouring the delivery switches of ``fault``."""
        view = memoryview(body)
        total = len(view)
        stop = self._owner._stop
        drop = fault.drop_after if fault.drop_after is not None else (0 if fault.reset else None)
        stall = fault.stall_after
        if stall is not None and stall >= total and not chunked:
            stall = None  # Nothing left to withhold: the response is complete.
        limit = total
        if drop is not None:
            limit = min(drop, total)
        elif stall is not None:
            limit = min(stall, total)
        step = fault.drip[0] if fault.drip is not None else CHUNK_SIZE
        pos = 0
        while pos < limit:
            end = min(pos + step, limit)
            self._write_payload(view[pos:end], chunked=chunked)
            pos = end
            if fault.drip is not None and pos < limit and stop.wait(fault.drip[1]):
                self.close_connection = True
                return
        if drop is not None:
            self.close_connection = True
            if fault.reset:
                self._reset_connection()
            return
        if stall is not None:
            self.close_connection = True
            self._stall()
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _reset_connection(self) -> None:
        """Close the socket so that the kernel sends a RST instead of a FIN."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference so close() is real
        self.connection.close()

    def _stall(self) -> None:
        """Stay silent until the peer disconnects, the server stops or the cap passes."""
        stop = self._owner._stop
        deadline = time.monotonic() + STALL_CAP_SECONDS
        sock = self.connection
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([sock], [], [], _POLL_SECONDS)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    return  # orderly close by the peer
            except (OSError, ValueError):
                return  # reset by the peer, or closed by FileServer.close()
            if readable:
                stop.wait(_POLL_SECONDS)  # peer sent more data; just keep waiting


class FileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with per-request fault injection."""

    def __init__(self) -> None:
        """Create the server; nothing is bound until :meth:`start`."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._entries: dict[str, _File | _Redirect] = {}
        self._faults: dict[str, collections.deque[Fault]] = {}
        self._requests: list[RecordedRequest] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._bytes_sent = 0
        #: Bytes per second per connection (None: as fast as possible), like nginx limit_rate.
        self.rate_limit: float | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Bind ``127.0.0.1:0`` and serve in a daemon thread; return ``self``."""
        if self._httpd is not None or self._closed:
            raise RuntimeError("FileServer can only be started once")
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"FileServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close all sockets; idempotent and never hangs."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
        httpd = self._httpd
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = dict(self._connections)
        for sock in connections:
            _shutdown_socket(sock)
        deadline = time.monotonic() + _JOIN_SECONDS
        for thread in connections.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        """Start the server if needed and return it."""
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        self.close()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._stop.is_set()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._httpd is None:
            raise RuntimeError("FileServer is not started")
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (which should start with ``/``)."""
        return f"http://127.0.0.1:{self.port}{path}"

    # -- content ------------------------------------------------------------

    def add_file(
        self,
        path: str,
        data: bytes,
        *,
        etag: str | None = None,
        accept_ranges: bool = True,
        headers: dict[str, str] | None = None,
        content_length: bool = True,
    ) -> None:
        """Serve ``data`` at ``path`` (replacing whatever was there).

        ``etag`` defaults to a quoted strong ETag derived from the SHA-256 of
        ``data``.  Without ``accept_ranges`` the ``Range`` header is ignored
        and no ``Accept-Ranges`` header is sent.  ``headers`` are added to
        (and override) the default response headers of 200/206 answers.  With
        ``content_length=False`` the body is sent chunked without a
        ``Content-Length`` (a 206 ``Content-Range`` still names the size).
        """
        if etag is None:
            etag = f'"{hashlib.sha256(data).hexdigest()}"'
        entry = _File(bytes(data), etag, accept_ranges, dict(headers or {}), content_length)
        with self._lock:
            self._entries[path] = entry

    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer ``path`` with a redirect to ``location``."""
        with self._lock:
            self._entries[path] = _Redirect(location, status)

    def queue(self, path: str, *faults: Fault) -> None:
        """Append ``faults`` to the queue of ``path`` (one per future request)."""
        with self._lock:
            self._faults.setdefault(path, collections.deque()).extend(faults)

    # -- inspection ---------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of all recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests whose path (query string ignored) is ``path``."""
        return [r for r in self.requests if urllib.parse.urlsplit(r.path).path == path]

    @property
    def bytes_sent(self) -> int:
        """Body bytes sent so far, over every connection (like nginx ``$body_bytes_sent``)."""
        with self._lock:
            return self._bytes_sent

    def _count(self, size: int) -> None:
        with self._lock:
            self._bytes_sent += size

    def reset_requests(self) -> None:
        """Forget all recorded requests."""
        with self._lock:
            self._requests.clear()

    # -- used by the handler ----------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        """Store a request."""
        with self._lock:
            self._requests.append(request)

    def _lookup(self, path: str) -> tuple[_File | _Redirect | None, Fault | None]:
        """Return the entry for ``path`` and pop its next fault, if any."""
        with self._lock:
            queue = self._faults.get(path)
            fault = queue.popleft() if queue else None
            return self._entries.get(path), fault

    def _register(self, sock: socket.socket) -> None:
        """Track a live connection (cut it at once if the server is closing)."""
        with self._lock:
            self._connections[sock] = threading.current_thread()
            closing = self._stop.is_set()
        if closing:
            _shutdown_socket(sock)

    def _unregister(self, sock: socket.socket) -> None:
        """Stop tracking a connection."""
        with self._lock:
            self._connections.pop(sock, None)


def _shutdown_socket(sock: socket.socket) -> None:
    """Shut a socket down in both directions, waking any blocked I/O on it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
