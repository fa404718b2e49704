"""The web console: one HTML page and its assets, served from the package, with strict headers.

The files live in ``model_fetch/http/console/`` (package data; no build step, no network). Every
URL in them is relative, so the console also works behind a reverse proxy under a path prefix.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Annotated, Final

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from model_fetch.http._schemas import ErrorBody

__all__ = ["CONSOLE_HEADERS", "console_routes"]

#: The console's files and their media types; nothing else under /console/ is served.
ASSETS: Final = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}

#: Headers on every console response: no inline script, no framing (clickjacking of Remove →
#: Confirm), no other host, no sniffing, no referrer.
CONSOLE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-cache",
}

_BAD_HOST: Final = {
    "model": ErrorBody,
    "description": "A Host or Origin header the server does not serve",
}

AssetName = Annotated[str, Path(max_length=64, description="A console file, e.g. app.js")]


@functools.cache
def _read(name: str) -> bytes:
    return (importlib.resources.files("model_fetch.http") / "console" / name).read_bytes()


def _asset(name: str, media_type: str) -> Response:
    return Response(_read(name), media_type=media_type, headers=CONSOLE_HEADERS)


def console_routes() -> APIRouter:
    """The routes ``GET /`` (the page) and ``GET /console/{asset}`` (its files)."""
    router = APIRouter()

    @router.get(
        "/",
        summary="The web console (HTML); needs no token, the page asks for it",
        response_class=Response,
        responses={
            200: {"content": {"text/html": {"schema": {"type": "string"}}}},
            400: _BAD_HOST,
        },
    )
    def console_page() -> Response:
        return _asset("index.html", "text/html; charset=utf-8")

    @router.get(
        "/console/{asset}",
        summary="A file of the web console (JavaScript, CSS, icon)",
        response_class=Response,
        responses={
            200: {
                "content": {
                    media.split(";", 1)[0]: {"schema": {"type": "string"}}
                    for media in ASSETS.values()
                },
            },
            400: _BAD_HOST,
            404: {"model": ErrorBody, "description": "No such file"},
        },
    )
    def console_asset(asset: AssetName) -> Response:
        media_type = ASSETS.get(asset)
        if media_type is None:
            return JSONResponse(status_code=404, content={"detail": f"No console file '{asset}'"})
        return _asset(asset, media_type)

    return router
