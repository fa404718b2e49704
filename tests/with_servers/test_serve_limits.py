"""What a hostile client cannot make ``model-fetch serve`` hold: big bodies, endless headers."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("uvicorn", reason="serving needs the http extra")
import requests
import uvicorn

from model_fetch import Downloader
from model_fetch.http import ServerSettings, create_app
from model_fetch.http._serve import server_config
from support.rest import free_port, start_rest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Generous: only a server that never answers waits this long.
PATIENCE = 20.0


@pytest.fixture
def served(store: Path) -> Iterator[int]:
    """The app under uvicorn, in a thread, as ``serve`` configures it; yields the port."""
    port = free_port()
    with Downloader(store=store) as downloader:
        app = create_app(downloader, ServerSettings(header_timeout=0.5))
        config = server_config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started = threading.Event()
        while not started.wait(0.01):
            if server.started:
                started.set()
            assert thread.is_alive(), "uvicorn did not start"
        try:
            yield port
        finally:
            server.should_exit = True
            thread.join(PATIENCE)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    sock.settimeout(PATIENCE)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_headers_that_never_finish_are_dropped(served: int) -> None:
    """A connection that starts a request and never ends its headers is closed by the server."""
    with _connect(served) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        assert _read_all(sock) == b"", "closed without an answer"


def test_a_silent_connection_is_dropped(served: int) -> None:
    """A connection that sends nothing at all does not hold a slot for ever."""
    with _connect(served) as sock:
        assert _read_all(sock) == b""


def test_oversized_content_length_is_413_before_the_body(served: int) -> None:
    """A body announced as 300 MiB is refused at once with 413; none of it is read."""
    with _connect(served) as sock:
        sock.sendall(
            b"POST /model-download HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
        )
        assert _read_all(sock).startswith(b"HTTP/1.1 413 ")


def test_a_body_under_the_cap_still_reaches_the_route(served: int) -> None:
    """A normal request body is read and parsed as before (400 for a bad name, not 413)."""
    response = requests.post(
        f"http://127.0.0.1:{served}/model-download",
        json={"model_name": "../x"},
        timeout=PATIENCE,
    )
    assert response.status_code == 400


def test_a_token_in_the_query_string_is_not_logged(tmp_path: Path, store: Path) -> None:
    """A token sent as ``?token=`` is refused (401) and the access log shows ``***`` instead."""
    token = "s3cr3t-token-0123456789"
    rest = start_rest(tmp_path, store, "token-log", "--token", token)
    try:
        response = requests.get(f"{rest.url}/models?token={token}", timeout=PATIENCE)
        assert response.status_code == 401
    finally:
        rest.stop()
    log = rest.log_path.read_text()
    assert "/models?token=***" in log
    assert token not in log
