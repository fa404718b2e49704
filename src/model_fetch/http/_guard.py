"""An ASGI middleware that guards every route: Host, Origin, bearer token, and JSON bodies."""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from model_fetch.http._settings import ServerSettings

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["Guard"]

#: Routes that hold no data and need no token: liveness, and the console page.
PUBLIC_PATHS: Final = frozenset({"/health", "/"})
#: The console's static assets (public too: the page must load before it asks for the token).
PUBLIC_PREFIX: Final = "/console/"
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The largest request body the API reads (1 MiB): a download request with 64 KiB of metadata
#: and 64 globs is far smaller. Larger bodies are refused with 413 as they arrive, unparsed.
MAX_BODY_BYTES: Final = 1024 * 1024
_TOO_LARGE: Final = f"The request body is larger than {MAX_BODY_BYTES} bytes"


class Guard:
    """Refuses requests before they reach a route.

    - A Host header that is not the bound address, a loopback name or an allowed host: 400
      (DNS rebinding: a hostile page's name resolved to 127.0.0.1 must not reach the API).
    - An ``Origin`` header that is neither the server's own nor an allowed CORS origin: 400
      (a page on another site must not drive the API through a visitor's browser).
    - A missing or wrong bearer token, when the server has one: 401 (constant-time compare).
    - A request body that is not ``application/json``: 415, so a cross-site form or
      ``text/plain`` POST cannot start a download.
    - A request body over :data:`MAX_BODY_BYTES`: 413, answered when the ``Content-Length``
      says so or as soon as that many bytes of a chunked body have arrived, before any parsing;
      the connection is then closed.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        """Wrap the application."""
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on or answer with an error."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope["headers"]
        }
        problem = self._problem(scope, headers)
        if problem is None and scope.get("method") in _BODY_METHODS and _has_body(headers):
            messages = await _read_body(receive, headers)
            if messages is None:
                problem = 413, _TOO_LARGE, [(b"connection", b"close")]
            else:
                receive = _replay(messages, receive)
        if problem is None:
            await self.app(scope, receive, send)
            return
        await _answer(send, *problem)

    def _problem(
        self,
        scope: Scope,
        headers: dict[str, str],
    ) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        if not self.settings.host_allowed(headers.get("host", "")):
            return 400, "Host header not allowed for this server", []
        origin = headers.get("origin")
        if origin is not None and not self.settings.origin_allowed(origin, headers.get("host", "")):
            return (
                400,
                "Origin not allowed for this server (serve --cors-origin allows another site)",
                [],
            )
        path = scope.get("path", "")
        token = self.settings.token
        if token and path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIX):
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(),
                token.encode(),
            ):
                return 401, "Missing or invalid bearer token", [(b"www-authenticate", b"Bearer")]
        if scope.get("method") in _BODY_METHODS and _has_body(headers):
            media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                return 415, "The request body must be application/json", []
        return None


async def _answer(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, headers: dict[str, str]) -> list[Message] | None:
    """Read the whole body (at most MAX_BODY_BYTES), or None as soon as it is over that."""
    length = headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return None
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # a disconnect: the application sees it as it would have
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out the body already read, then waits as the server's does."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in {"", "0"}
    return "transfer-encoding" in headers
