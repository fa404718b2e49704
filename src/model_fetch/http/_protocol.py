"""uvicorn's HTTP/1.1 protocol with a deadline for a request's headers (slow-loris defence).

uvicorn closes an idle keep-alive connection, but a connection that sends a request line and then
one header byte at a time, or nothing at all, is held open for ever. Here every request's headers
must be complete within ``timeout`` seconds of the connection opening (or of the previous
response ending); otherwise the connection is dropped. h11 already refuses headers over 16 KiB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from model_fetch._log import get_logger

if TYPE_CHECKING:
    import asyncio

__all__ = ["with_header_deadline"]

log = get_logger(__name__)


class _HeaderDeadline(H11Protocol):
    """H11Protocol that drops a connection whose request headers do not finish in time."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is h11.IDLE:
            self._arm()  # waiting for (the rest of) a request's headers
        else:
            self._disarm()

    def _arm(self) -> None:
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            client = "%s:%d" % self.client if self.client else "a client"  # noqa: UP031
            log.info(
                "Dropped %s: request headers unfinished after %ss", client, self.header_timeout
            )
            self.transport.close()


def with_header_deadline(timeout: float) -> type[H11Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``: headers due within ``timeout``."""
    return type("HeaderDeadlineProtocol", (_HeaderDeadline,), {"header_timeout": timeout})
