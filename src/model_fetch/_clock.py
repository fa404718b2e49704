"""Injectable time: the retry, backoff and stall logic take a clock instead of calling time."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock and a way to wait. Tests pass one that advances instantly."""

    def monotonic(self) -> float:
        """Return seconds from an arbitrary start; never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.sleep`."""

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Call :func:`time.sleep`."""
        time.sleep(seconds)
