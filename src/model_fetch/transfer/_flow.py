"""Shared pieces of the single-stream and parallel paths: background syncs and the stall guard."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Final, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["RATE_WINDOW", "STALL_MIN_BYTES", "BackgroundSync", "Pace", "StallGuard", "datasync"]

#: Fewer bytes than this in a whole ``timeout`` window counts as a stall (defeats slow drips).
STALL_MIN_BYTES: Final = 1024
#: The window, in seconds, over which ``min_rate`` is measured.
RATE_WINDOW: Final = 30.0

_T = TypeVar("_T")


def datasync(fd: int) -> None:
    """Flush a file's data to disk (``fdatasync`` where the platform has it)."""
    getattr(os, "fdatasync", os.fsync)(fd)


class BackgroundSync(Generic[_T]):
    """Syncs a file on a thread of its own when asked, so no sync ever stalls the transfer.

    Before each sync it takes ``snapshot()`` (what has been written so far); after the sync
    succeeds it hands that snapshot to ``on_durable``, so a resume record never claims bytes a
    crash could lose. The final fsync before an install record only has the last stretch left.

    Args:
        fd: The file to sync.
        snapshot: Describes the bytes written so far (called just before each sync).
        on_durable: Receives a snapshot once its bytes are on disk.
    """

    def __init__(
        self,
        fd: int,
        snapshot: Callable[[], _T],
        on_durable: Callable[[_T], None] | None = None,
    ) -> None:
        """Prepare the sync thread; it starts with the first request.

        Most files of a repository are small and never ask for a sync before their final
        fsync, so they never pay for starting a thread (several milliseconds on a busy machine).
        """
        self._fd = fd
        self._snapshot = snapshot
        self._on_durable = on_durable
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """Whether a sync was ever requested (and so the thread runs)."""
        return self._thread is not None

    def request(self) -> None:
        """Ask for a sync (requests made while one runs fold into the next)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model_fetch-sync", daemon=True)
            self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            durable = self._snapshot()
            with contextlib.suppress(OSError):  # the final fsync reports real failures
                datasync(self._fd)
                if self._on_durable is not None:
                    self._on_durable(durable)

    def stop(self) -> None:
        """Stop the thread (a sync in progress finishes first)."""
        self._stopping = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()


class StallGuard:
    """Tells when fewer than :data:`STALL_MIN_BYTES` arrived in a whole ``timeout`` window.

    A read timeout ends a silent connection; this ends one that drips a few bytes at a time.

    Args:
        timeout: The window, in seconds.
        monotonic: The clock.
    """

    def __init__(
        self,
        timeout: float,
        monotonic: Callable[[], float],
        *,
        min_bytes: float = STALL_MIN_BYTES,
    ) -> None:
        """Open the first window now."""
        self.timeout = timeout
        self.min_bytes = min_bytes
        self._monotonic = monotonic
        self._start = monotonic()
        self._bytes = 0

    @property
    def reason(self) -> str:
        """The failure message for a stall."""
        return f"stalled: fewer than {self.min_bytes:g} bytes in {self.timeout:g} s"

    def stalled(self, size: int) -> bool:
        """Count ``size`` new bytes; True when the window that just closed was a stall."""
        self._bytes += size
        now = self._monotonic()
        if now - self._start < self.timeout:
            return False
        if self._bytes < self.min_bytes:
            return True
        self._start, self._bytes = now, 0
        return False


class DeadlinePassed(Exception):
    """The transfer's deadline passed; retrying cannot help."""


class Pace:
    """A transfer's deadline and minimum sustained rate, checked as bytes arrive.

    Args:
        deadline_at: The clock reading after which the transfer fails.
        min_rate: The fewest bytes per second, on average over each :data:`RATE_WINDOW`.
        monotonic: The clock.
    """

    def __init__(
        self, *, deadline_at: float, min_rate: int, monotonic: Callable[[], float]
    ) -> None:
        """Open the first rate window now."""
        self.deadline_at = deadline_at
        self.min_rate = min_rate
        self._monotonic = monotonic
        self._window = StallGuard(RATE_WINDOW, monotonic, min_bytes=min_rate * RATE_WINDOW)

    def passed(self) -> bool:
        """Whether the deadline has passed."""
        return self._monotonic() >= self.deadline_at

    def too_slow(self, size: int) -> str | None:
        """Count ``size`` new bytes; the failure reason when the window that closed was too slow.

        Raises:
            DeadlinePassed: The deadline passed.
        """
        if self.passed():
            raise DeadlinePassed
        if self._window.stalled(size):
            return f"too slow: under {self.min_rate} bytes/s over {RATE_WINDOW:g} s"
        return None
