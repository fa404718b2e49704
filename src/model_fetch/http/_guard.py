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


class Guard:
    """Refuses requests before they reach a route.

    - A Host header that is not the bound address, a loopback name or an allowed host: 400
      (DNS rebinding: a hostile page's name resolved to 127.0.0.1 must not reach the API).
    - An ``Origin`` header that is neither the server's own nor an allowed CORS origin: 400
      (a page on another site must not drive the API through a visitor's browser).
    - A missing or wrong bearer token, when the server has one: 401 (constant-time compare).
    - A request body that is not ``application/json``: 415, so a cross-site form or
      ``text/plain`` POST cannot start a download.
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
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, detail, extra = problem
        body = json.dumps({"detail": detail}).encode()
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

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


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in {"", "0"}
    return "transfer-encoding" in headers
