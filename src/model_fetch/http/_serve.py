"""Run the application with uvicorn, ending open event streams as soon as shutdown starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

    from fastapi import FastAPI

__all__ = ["serve"]


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

    config = uvicorn.Config(app, host=host, port=port, workers=1, log_level=log_level)
    _Server(config).run()
