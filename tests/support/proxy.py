"""An HTTP(S) forward proxy on 127.0.0.1 that answers for documentation example hosts.

The documentation writes real-looking URLs (``https://models.example.com/tiny-mlp.safetensors``).
Inside the docs tests, ``HTTPS_PROXY``/``HTTP_PROXY`` point at this proxy, which serves each
example host from a local server:

* ``CONNECT host:443`` for an example host is accepted, the tunnel is terminated with a
  certificate for that host issued by a test CA (``trustme``; point ``SSL_CERT_FILE`` at
  :attr:`ExampleHostProxy.ca_file`), and the decrypted stream is relayed to the local server;
* ``GET http://host/path`` (absolute form) for an example host is relayed as plain HTTP;
* anything else is refused with 403, so a test can never reach the internet through it.

Only the routes given are served; the proxy never resolves a name.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import urllib.parse
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from types import TracebackType

    import trustme

_BUFFER = 256 * 1024


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from ``source`` to ``sink`` until either side closes."""
    with contextlib.suppress(OSError):
        while data := source.recv(_BUFFER):
            sink.sendall(data)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: ExampleHostProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline(65537).decode("latin-1")
        headers = []
        while (line := self.rfile.readline(65537)) not in {b"\r\n", b"\n", b""}:
            headers.append(line)
        try:
            method, target, _version = request_line.split()
        except ValueError:
            return
        owner = self.server.owner
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = owner.routes.get(host.lower())
            if upstream is None or port != "443":
                self._refuse(host)
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            try:
                client = owner.tls.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                return
            with client:
                self._relay(client, upstream, b"")
            return
        parts = urllib.parse.urlsplit(target)
        upstream = owner.routes.get((parts.hostname or "").lower())
        if parts.scheme != "http" or upstream is None:
            self._refuse(parts.hostname or target)
            return
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        kept = [h for h in headers if not h.lower().startswith((b"proxy-", b"connection:"))]
        head = f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
        self._relay(self.connection, upstream, head + b"".join(kept) + b"Connection: close\r\n\r\n")

    def _refuse(self, host: str) -> None:
        body = f"The docs proxy serves only example hosts; {host!r} is not one.\n".encode()
        self.wfile.write(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _relay(self, client: socket.socket, port: int, first: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port)) as upstream:
            if first:
                upstream.sendall(first)
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()


class ExampleHostProxy:
    """A forward proxy that maps example host names to local ports (see the module docstring)."""

    def __init__(self, routes: Mapping[str, int], ca: trustme.CA, ca_file: Path) -> None:
        """Create the proxy; nothing is bound until :meth:`start`.

        Args:
            routes: Example host name -> the 127.0.0.1 port that serves it (plain HTTP).
            ca: The test CA that issues the hosts' certificate.
            ca_file: Where to write the CA certificate (PEM) for clients' ``SSL_CERT_FILE``.
        """
        self.routes = {host.lower(): port for host, port in routes.items()}
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*self.routes).configure_cert(self.tls)
        ca.cert_pem.write_to_path(str(ca_file))
        self.ca_file = ca_file
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:{port}``: the value for ``HTTPS_PROXY`` and ``HTTP_PROXY``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        """Serve in a daemon thread; return ``self``."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting connections."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        """Start the proxy."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the proxy."""
        self.close()
