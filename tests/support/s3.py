"""An S3-compatible server for tests: moto's standalone server in its own process on 127.0.0.1.

s3fs reaches it through the environment alone (``AWS_ENDPOINT_URL`` and test credentials), as
users point model_fetch at MinIO or Ceph; see ``/work/shared/notes/s3-testing.md``.
"""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any, Self

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

#: The environment that points s3fs (through botocore) at a moto server, less the endpoint.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto_server in a child process; empty at every start."""

    def __init__(self) -> None:
        """Pick a port; nothing runs until :meth:`start`."""
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        """Start the server and wait until it accepts connections."""
        executable = shutil.which("moto_server") or os.path.join(
            os.path.dirname(sys.executable), "moto_server"
        )
        self._process = subprocess.Popen(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("moto_server exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start within 30 s")

    def stop(self) -> None:
        """Stop the server (by its own process id)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @property
    def env(self) -> dict[str, str]:
        """The environment a process needs to reach this server through s3fs."""
        return {**S3_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def filesystem(self) -> object:
        """A fresh s3fs filesystem on this server (never a cached instance)."""
        import s3fs  # noqa: PLC0415 - only S3 tests need it

        return s3fs.S3FileSystem(
            key="testing",
            secret="testing",
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    def client(self) -> Any:
        """A boto3 S3 client on this server."""
        import boto3  # noqa: PLC0415 - comes with moto[server]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        """Create a fresh, empty bucket and return its name."""
        name = f"mf-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def fresh_bucket(self, name: str) -> None:
        """Create the bucket ``name`` empty, deleting it first if an earlier user left it."""
        client = self.client()
        if name in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
            for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
                client.abort_multipart_upload(
                    Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
                )
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=name, Delete={"Objects": keys})
            client.delete_bucket(Bucket=name)
        client.create_bucket(Bucket=name)


def apply_env(monkeypatch: pytest.MonkeyPatch, server: MotoServer) -> None:
    """Point this process's s3fs at the server (before any filesystem is made)."""
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)


def session_server() -> Iterator[MotoServer]:
    """Yield one running server for a whole test session (use as a fixture body)."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@attrs.frozen
class S3Request:
    """One request that reached the S3 server through a :class:`RecordingProxy`."""

    method: str
    key: str  # the path, bucket first, percent-decoded
    query: str
    body_bytes: int  # bytes of the request body (an upload's bytes, and its framing)
    copy_source: str | None  # the x-amz-copy-source header of a server-side copy


class _Relay(http.server.BaseHTTPRequestHandler):
    """Relays one connection's requests to the upstream server, recording each."""

    protocol_version = "HTTP/1.1"
    server: _RelayServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Quiet."""

    def relay(self) -> None:
        """Record the request, send it upstream unchanged, and relay the answer."""
        body = self._body()
        parsed = urllib.parse.urlsplit(self.path)
        self.server.owner.record(
            S3Request(
                method=self.command,
                key=urllib.parse.unquote(parsed.path),
                query=parsed.query,
                body_bytes=len(body),
                copy_source=self.headers.get("x-amz-copy-source"),
            )
        )
        status, reason, headers, data = self._upstream(body)
        self.send_response_only(status, reason)
        for key, value in headers:
            if key.lower() not in {"transfer-encoding", "content-length", "connection"}:
                self.send_header(key, value)
        length = {k.lower(): v for k, v in headers}.get("content-length", "0")
        self.send_header("Content-Length", length if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = relay  # noqa: N815 - http.server's names

    def _upstream(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.owner.upstream, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in {"transfer-encoding", "content-length", "expect"}:
                    conn.putheader(key, value)
            if body or self.command in {"PUT", "POST"}:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            conn.close()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
            pass
        return b"".join(chunks)


class _RelayServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: RecordingProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.owner = owner


class RecordingProxy:
    """A reverse proxy on 127.0.0.1 in front of an S3 server that records every request.

    Clients pointed at :attr:`endpoint` reach the server unchanged (headers, signature and body
    are relayed as sent), so a test counts what was uploaded and what was copied server-side
    at the wire, not from the client's own account of it.
    """

    def __init__(self, upstream: MotoServer) -> None:
        """Bind a port; requests are relayed once entered."""
        self.upstream = upstream.port
        self._lock = threading.Lock()
        self._requests: list[S3Request] = []
        self._server = _RelayServer(self)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def record(self, request: S3Request) -> None:
        """Keep one relayed request."""
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[S3Request]:
        """Every request relayed so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def __enter__(self) -> Self:
        """Start relaying."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop relaying."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
