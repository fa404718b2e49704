"""Run the application with uvicorn, ending open event streams as soon as shutdown starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

    from fastapi import FastAPI

__all__ = ["serve", "server_config"]


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

    _Server(server_config(app, host=host, port=port, log_level=log_level)).run()
