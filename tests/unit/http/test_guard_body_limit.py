"""The REST guard's body cap, driven as an ASGI app with a body that never ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the http extra")

from model_fetch.http import ServerSettings
from model_fetch.http._guard import MAX_BODY_BYTES, Guard

if TYPE_CHECKING:
    from collections.abc import Coroutine

CHUNK = 65536


def _run(headers: list[tuple[bytes, bytes]]) -> tuple[list[dict[str, Any]], int, bool]:
    """Send an endless body through the guard; return what it answered, bytes taken, app reached."""
    taken = 0
    reached = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal taken
        taken += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(*_: object) -> None:
        nonlocal reached
        reached = True

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/model-download",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
    }
    _drive(Guard(app, ServerSettings())(scope, receive, send))
    return sent, taken, reached


def _drive(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never waits on I/O to its end, without an event loop (no socket)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    pytest.fail("the guard waited on something other than receive and send")


def test_endless_chunked_body_is_413_once_the_cap_is_passed() -> None:
    """A chunked body is refused as soon as 1 MiB has arrived; the route never sees it."""
    sent, taken, reached = _run([(b"transfer-encoding", b"chunked")])
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert taken <= MAX_BODY_BYTES + CHUNK
    assert not reached


def test_announced_oversized_body_is_413_unread() -> None:
    """A Content-Length over the cap is refused before one byte of the body is read."""
    sent, taken, reached = _run([(b"content-length", str(MAX_BODY_BYTES + 1).encode())])
    assert sent[0]["status"] == 413
    assert taken == 0
    assert not reached
