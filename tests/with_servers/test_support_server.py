"""Tests for the fault-injecting test server in tests.support.server."""

from __future__ import annotations

import errno
import gzip
import hashlib
import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from support.server import LAST_MODIFIED, Fault, FileServer

if TYPE_CHECKING:
    from collections.abc import Iterator

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable enough
PATH = "/files/model.bin"


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as srv:
        srv.add_file(PATH, DATA)
        yield srv


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=5.0))
    yield pool
    pool.clear()


def _caused_by_reset(exc: BaseException) -> bool:
    """Tell whether a connection reset appears in the exception's args or chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError):
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNRESET:
            return True
        if any(isinstance(arg, BaseException) and _caused_by_reset(arg) for arg in seen.args):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _raw_get(server: FileServer, path: str) -> socket.socket:
    """Open a raw connection and send a GET for ``path``."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_full_get(server, http):
    """A plain GET returns the whole file with length, validators and Accept-Ranges."""
    resp = http.request("GET", server.url(PATH))
    assert resp.status == 200
    assert resp.data == DATA
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert resp.headers["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert resp.headers["Last-Modified"] == LAST_MODIFIED
    assert resp.headers["Accept-Ranges"] == "bytes"


def test_big_file_and_keep_alive(server):
    """A multi-slice body arrives intact and consecutive requests reuse one connection."""
    big = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    server.add_file("/big", big)
    pool = urllib3.HTTPConnectionPool("127.0.0.1", server.port, retries=False, maxsize=1)
    try:
        assert pool.request("GET", "/big").data == big
        assert pool.request("GET", PATH).data == DATA
        assert pool.num_connections == 1
    finally:
        pool.close()


def test_head(server, http):
    """HEAD sends the GET headers without a body."""
    resp = http.request("HEAD", server.url(PATH))
    assert resp.status == 200
    assert resp.data == b""
    assert resp.headers["Content-Length"] == str(len(DATA))
    assert "ETag" in resp.headers


def test_unknown_path_is_404(server, http):
    """A path that was never added answers 404."""
    assert http.request("GET", server.url("/nope")).status == 404


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("bytes=10-19", 10, 19), ("bytes=0-0", 0, 0), ("bytes=10000-", 10000, 10239)],
)
def test_range_206(server, http, spec, start, end):
    """Single byte ranges get 206 with the right Content-Range and bytes."""
    resp = http.request("GET", server.url(PATH), headers={"Range": spec})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert resp.data == DATA[start : end + 1]


def test_suffix_range_and_clamped_end(server, http):
    """bytes=-n gives the last n bytes and an end past the size is clamped."""
    resp = http.request("GET", server.url(PATH), headers={"Range": "bytes=-16"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 10224-10239/{len(DATA)}"
    assert resp.data == DATA[-16:]
    resp = http.request("GET", server.url(PATH), headers={"Range": "bytes=10230-99999"})
    assert resp.data == DATA[10230:]


def test_multiple_ranges_get_full_body(server, http):
    """A multi-range request is answered with 200 and the full body."""
    resp = http.request("GET", server.url(PATH), headers={"Range": "bytes=0-1,5-6"})
    assert resp.status == 200
    assert resp.data == DATA


def test_if_range(server, http):
    """If-Range with the current ETag gives 206; with another ETag it gives 200."""
    etag = http.request("HEAD", server.url(PATH)).headers["ETag"]
    ok = http.request("GET", server.url(PATH), headers={"Range": "bytes=5-", "If-Range": etag})
    assert ok.status == 206
    assert ok.data == DATA[5:]
    stale = http.request(
        "GET", server.url(PATH), headers={"Range": "bytes=5-", "If-Range": '"old"'}
    )
    assert stale.status == 200
    assert stale.data == DATA


def test_unsatisfiable_range_416(server, http):
    """A range starting past the end answers 416 with bytes */size."""
    resp = http.request("GET", server.url(PATH), headers={"Range": "bytes=20000-20010"})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(DATA)}"


def test_accept_ranges_false_ignores_range(server, http):
    """Without accept_ranges the Range header is ignored and not advertised."""
    server.add_file("/plain", DATA, accept_ranges=False)
    resp = http.request("GET", server.url("/plain"), headers={"Range": "bytes=0-9"})
    assert resp.status == 200
    assert resp.data == DATA
    assert "Accept-Ranges" not in resp.headers


def test_status_fault_then_normal(server, http):
    """Queued status faults are used once each, in order, then the file is served."""
    server.queue(PATH, Fault(status=503), Fault(status=404))
    assert http.request("GET", server.url(PATH)).status == 503
    assert http.request("GET", server.url(PATH)).status == 404
    resp = http.request("GET", server.url(PATH))
    assert resp.status == 200
    assert resp.data == DATA


def test_retry_after_header(server, http):
    """A status fault carries the requested Retry-After header."""
    server.queue(PATH, Fault(status=429, retry_after="2"))
    resp = http.request("GET", server.url(PATH))
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "2"


def test_drop_after(server, http):
    """drop_after truncates the body under a full Content-Length: urllib3 sees it broken."""
    server.queue(PATH, Fault(drop_after=100))
    with pytest.raises(ProtocolError, match="IncompleteRead"):
        http.request("GET", server.url(PATH))
    assert http.request("GET", server.url(PATH)).data == DATA


def test_reset(server, http):
    """A reset fault makes the client see a connection reset instead of a clean EOF."""
    server.queue(PATH, Fault(drop_after=100, reset=True))
    with pytest.raises(ProtocolError) as info:
        http.request("GET", server.url(PATH))
    assert _caused_by_reset(info.value), repr(info.value)


def test_wrong_bytes(server, http):
    """wrong_bytes serves corrupted content of the same length."""
    server.queue(PATH, Fault(wrong_bytes=True))
    resp = http.request("GET", server.url(PATH))
    assert resp.status == 200
    assert len(resp.data) == len(DATA)
    assert resp.data != DATA


def test_drip_is_slow(server, http):
    """A drip fault spaces the body writes out in time but delivers every byte."""
    server.add_file("/small", DATA[:100])
    server.queue("/small", Fault(drip=(20, 0.03)))
    started = time.monotonic()
    resp = http.request("GET", server.url("/small"))
    elapsed = time.monotonic() - started
    assert resp.data == DATA[:100]
    assert elapsed >= 0.08  # four 30 ms pauses between five writes


def test_stall_after_read_timeout(server, http):
    """stall_after goes silent mid-body so a read timeout fires."""
    server.queue(PATH, Fault(stall_after=50))
    with pytest.raises(ReadTimeoutError):
        http.request("GET", server.url(PATH), timeout=urllib3.Timeout(connect=2.0, read=0.2))
    assert http.request("GET", server.url(PATH)).data == DATA


def test_ignore_range(server, http):
    """ignore_range answers a Range request with 200 and the full body."""
    server.queue(PATH, Fault(ignore_range=True))
    resp = http.request("GET", server.url(PATH), headers={"Range": "bytes=100-"})
    assert resp.status == 200
    assert resp.data == DATA


def test_bad_content_range_start(server, http):
    """bad_content_range_start lies about the start offset in Content-Range."""
    server.queue(PATH, Fault(bad_content_range_start=500))
    resp = http.request("GET", server.url(PATH), headers={"Range": "bytes=10-19"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 500-509/{len(DATA)}"
    assert resp.data == DATA[10:20]


def test_etag_override(server, http):
    """An etag fault changes the ETag for one request, and If-Range sees the change."""
    original = http.request("HEAD", server.url(PATH)).headers["ETag"]
    server.queue(PATH, Fault(etag='"v2"'), Fault(etag='"v2"'))
    assert http.request("HEAD", server.url(PATH)).headers["ETag"] == '"v2"'
    resp = http.request(
        "GET", server.url(PATH), headers={"Range": "bytes=5-", "If-Range": original}
    )
    assert resp.status == 200
    assert http.request("HEAD", server.url(PATH)).headers["ETag"] == original


def test_custom_etag_and_headers(server, http):
    """add_file honours a given ETag and extra headers that override defaults."""
    server.add_file("/c", b"abc", etag='W/"weak"', headers={"Content-Type": "text/html"})
    resp = http.request("GET", server.url("/c"))
    assert resp.headers["ETag"] == 'W/"weak"'
    assert resp.headers["Content-Type"] == "text/html"


def test_gzip(server, http):
    """A gzip fault compresses only when the client accepts gzip."""
    server.queue(PATH, Fault(gzip=True), Fault(gzip=True))
    resp = http.request(
        "GET", server.url(PATH), headers={"Accept-Encoding": "gzip"}, decode_content=False
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.data != DATA
    assert gzip.decompress(resp.data) == DATA
    identity = http.request("GET", server.url(PATH), headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers
    assert identity.data == DATA


def test_chunked_without_content_length(server, http):
    """content_length=False sends a chunked body without Content-Length."""
    big = DATA * 40  # > one 256 KiB slice
    server.add_file("/chunked", big, content_length=False)
    resp = http.request("GET", server.url("/chunked"))
    assert resp.status == 200
    assert "Content-Length" not in resp.headers
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert resp.data == big
    ranged = http.request("GET", server.url("/chunked"), headers={"Range": "bytes=3-5"})
    assert ranged.status == 206
    assert ranged.data == big[3:6]


def test_chunked_drop_after(server, http):
    """drop_after on a chunked body leaves the chunked stream unterminated."""
    server.add_file("/chunked", DATA, content_length=False)
    server.queue("/chunked", Fault(drop_after=10))
    with pytest.raises(ProtocolError):
        http.request("GET", server.url("/chunked"))


def test_redirect(server, http):
    """add_redirect answers with the status and Location and can be followed."""
    server.add_redirect("/r", PATH)
    server.add_redirect("/r301", server.url("/r"), status=301)
    resp = http.request("GET", server.url("/r301"), redirect=False)
    assert resp.status == 301
    assert resp.headers["Location"] == server.url("/r")
    followed = http.request("GET", server.url("/r301"), retries=urllib3.Retry(total=3, redirect=3))
    assert followed.status == 200
    assert followed.data == DATA


def test_requests_recorded(server, http):
    """Requests are recorded with query string and lower-cased headers; matching ignores it."""
    http.request("GET", server.url(PATH + "?sig=abc&x=1"), headers={"X-Token": "t"})
    http.request("HEAD", server.url("/other"))
    assert [r.method for r in server.requests] == ["GET", "HEAD"]
    (first,) = server.requests_for(PATH)
    assert first.path == PATH + "?sig=abc&x=1"
    assert first.headers["x-token"] == "t"
    assert first.headers["host"] == f"127.0.0.1:{server.port}"
    server.reset_requests()
    assert server.requests == []


def test_signed_url_served(server, http):
    """A query string does not prevent matching the file or its faults."""
    server.queue(PATH, Fault(status=401))
    assert http.request("GET", server.url(PATH + "?token=1")).status == 401
    assert http.request("GET", server.url(PATH + "?token=2")).data == DATA


def test_close_does_not_hang_during_stall_or_drip():
    """close() returns promptly while handlers stall, drip or sit on idle keep-alive."""
    srv = FileServer().start()
    srv.add_file(PATH, DATA)
    srv.queue(PATH, Fault(stall_after=10), Fault(drip=(1, 1.0)))
    stalled = _raw_get(srv, PATH)
    dripping = _raw_get(srv, PATH)
    idle = _raw_get(srv, "/missing")
    try:
        for sock in (stalled, dripping, idle):
            assert sock.recv(4096).startswith(b"HTTP/1.1 ")
        started = time.monotonic()
        srv.close()
        assert time.monotonic() - started < 2.0
        srv.close()  # idempotent
    finally:
        for sock in (stalled, dripping, idle):
            sock.close()


def test_close_from_other_thread_while_client_reads():
    """A client blocked on a stalled body is released when the server closes."""
    srv = FileServer().start()
    srv.add_file(PATH, DATA)
    srv.queue(PATH, Fault(stall_after=10))
    errors: list[BaseException] = []
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))

    def fetch() -> None:
        try:
            pool.request("GET", srv.url(PATH))
        except urllib3.exceptions.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=fetch)
    thread.start()
    deadline = time.monotonic() + 2
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    srv.close()
    thread.join(3)
    pool.clear()
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ProtocolError)


def test_fault_validation():
    """Nonsensical fault settings are rejected early."""
    with pytest.raises(ValueError, match="drip"):
        Fault(drip=(0, 0.1))
    with pytest.raises(ValueError, match="drop_after"):
        Fault(drop_after=-1)


def test_port_requires_start():
    """The port is only known after start()."""
    srv = FileServer()
    with pytest.raises(RuntimeError):
        _ = srv.port
    srv.close()
