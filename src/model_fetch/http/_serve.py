"""Run the application with uvicorn, ending open event streams as soon as shutdown starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from types import FrameType

    from fastapi import FastAPI

__all__ = ["TokenFilter", "serve", "server_config"]


class TokenFilter(logging.Filter):
    """Blanks the server's token wherever a log record would show it (the access log's path).

    A token sent in the query string is refused (only the Authorization header counts), but
    uvicorn's access log would still write it down with the request line.
    """

    def __init__(self, token: str) -> None:
        """Remember the token, raw and percent-encoded, as a path would carry it."""
        super().__init__()
        self._spellings = tuple({token, quote(token, safe=""), quote(token)})

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message arguments; never drop the record."""
        if isinstance(record.args, tuple):
            record.args = tuple(self._blank(arg) for arg in record.args)
        record.msg = self._blank(record.msg)
        return True

    def _blank(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for spelling in self._spellings:
            value = value.replace(spelling, "***")
        return value


def server_config(app: FastAPI, *, host: str, port: int, log_level: str) -> Any:
    """The ``uvicorn.Config`` :func:`serve` runs: one worker, headers due within a deadline."""
    import uvicorn  # noqa: PLC0415 - the http extra is optional

    from model_fetch.http._protocol import with_header_deadline  # noqa: PLC0415

    settings = app.state.settings
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        log_level=log_level,
        http=with_header_deadline(settings.header_timeout),
    )


def serve(app: FastAPI, *, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` (from :func:`create_app`) in this process until SIGINT or SIGTERM.

    uvicorn waits for open responses before it stops; an event stream never ends by itself, so
    the first signal also tells the streams to finish.
    """
    import uvicorn  # noqa: PLC0415 - the http extra is optional

    closing = app.state.closing

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            closing.set()
            super().handle_exit(sig, frame)

    config = server_config(app, host=host, port=port, log_level=log_level)  # configures logging
    token = app.state.settings.token
    if token:
        logging.getLogger("uvicorn.access").addFilter(TokenFilter(token))
    _Server(config).run()
