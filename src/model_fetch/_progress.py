"""Progress tracking: immutable snapshots with a moving-average speed, never running backwards."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Final, Literal

from model_fetch._models import MIB, Progress, Stage

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._clock import Clock

__all__ = ["ProgressTracker"]

#: Seconds of history the speed is averaged over.
SPEED_WINDOW: Final = 3.0
#: At most this many snapshots per second reach the callback while downloading.
MAX_RATE: Final = 10.0


class ProgressTracker:
    """Aggregates byte counts of a plan's files into :class:`Progress` snapshots.

    Positions are per file and only the highest position seen counts, so a retry that restarts a
    file from zero never makes the total run backwards.

    Args:
        files: How many files the plan has.
        sizes: Their sizes when known in advance.
        chunk_size: The smallest step, in bytes, worth a new snapshot.
        clock: The clock for speed and rate limiting.
        callback: Receives each snapshot (may be None).
    """

    def __init__(
        self,
        sizes: list[int | None],
        *,
        chunk_size: int,
        clock: Clock,
        callback: Callable[[Progress], None] | None,
        uploads: int = 0,
    ) -> None:
        """Create the tracker (``uploads``: how many uploads of the bytes will follow)."""
        self._sizes = list(sizes)
        self._positions = [0] * len(sizes)
        self._chunk = chunk_size
        self._clock = clock
        self._callback = callback
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()
        self._last_emit_time = -1e18
        self._last_emit_bytes = -1
        self._stage: Stage = "downloading"
        self._latest = Progress()
        self._upload_total = 0
        self._uploaded = 0
        self._uploads_expected = uploads
        self._uploads_known = 0
        self._last_percentage = 0.0
        self.bytes_from: Literal["mirror", "origin"] | None = None

    @property
    def latest(self) -> Progress:
        """The most recent snapshot."""
        return self._latest

    def set_size(self, index: int, size: int) -> None:
        """Record a file's size once the server tells it."""
        with self._lock:
            self._sizes[index] = size

    def advance(self, index: int, position: int) -> None:
        """Record that file ``index`` has ``position`` bytes in the current attempt."""
        with self._lock:
            if position <= self._positions[index]:
                return
            self._positions[index] = position
            done = sum(self._positions)
            now = self._clock.monotonic()
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW:  # noqa: PLR2004
                self._samples.popleft()
            if (
                done - self._last_emit_bytes < self._chunk
                or now - self._last_emit_time < 1 / MAX_RATE
            ):
                return
            snapshot = self._snapshot()
        self._emit(snapshot, now, snapshot.downloaded_bytes)

    def stage(self, stage: Stage) -> None:
        """Enter a new stage (``verifying``, ``installing``) and emit a snapshot at once."""
        with self._lock:
            self._stage = stage
            now = self._clock.monotonic()
            snapshot = self._snapshot()
        self._emit(snapshot, now, snapshot.downloaded_bytes)

    def expect_upload(self, size: int) -> None:
        """Count an upload of ``size`` bytes (to an object store) in the percentage."""
        with self._lock:
            self._upload_total += size
            self._uploads_known += 1

    def uploaded(self, size: int) -> None:
        """Record ``size`` more bytes uploaded; emits at most :data:`MAX_RATE` snapshots/s."""
        with self._lock:
            self._uploaded += size
            now = self._clock.monotonic()
            if now - self._last_emit_time < 1 / MAX_RATE and self._uploaded < self._upload_total:
                return
            snapshot = self._snapshot()
        self._emit(snapshot, now, snapshot.downloaded_bytes)

    def finish(self) -> None:
        """Emit a final snapshot at 100%."""
        with self._lock:
            self._sizes = [
                size if size is not None else pos
                for size, pos in zip(self._sizes, self._positions, strict=True)
            ]
            self._uploaded = self._upload_total
            now = self._clock.monotonic()
            snapshot = self._snapshot()
        self._emit(snapshot, now, snapshot.downloaded_bytes)

    def _emit(self, snapshot: Progress, now: float, done: int) -> None:
        self._latest = snapshot
        self._last_emit_time = now
        self._last_emit_bytes = done
        if self._callback is not None:
            self._callback(snapshot)

    def _snapshot(self) -> Progress:
        done = sum(self._positions)
        known = all(size is not None for size in self._sizes)
        total = sum(size or 0 for size in self._sizes) if known else 0
        speed = 0.0
        if len(self._samples) >= 2:  # noqa: PLR2004
            (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
            if t1 > t0:
                speed = (b1 - b0) / (t1 - t0)
        if self._stage != "downloading" and total:
            done = max(done, total)
        percentage = min(100.0, 100.0 * done / total) if total else 0.0
        pending = max(0, self._uploads_expected - self._uploads_known) * total
        if (self._upload_total or pending) and total:
            # Bytes still to move to an object store keep the percentage below 100.
            moved = done + self._uploaded
            percentage = min(100.0, 100.0 * moved / (total + self._upload_total + pending))
        percentage = max(percentage, self._last_percentage)  # never runs backwards
        self._last_percentage = percentage
        eta = (total - done) / speed if total and speed > 0 else 0.0
        return Progress(
            percentage=round(percentage, 1),
            downloaded_mb=round(done / MIB, 1),
            total_mb=round(total / MIB, 1),
            speed_mbps=round(speed / MIB, 1),
            eta_seconds=round(max(0.0, eta)),
            current_stage=self._stage,
            downloaded_bytes=done,
            total_bytes=total,
            bytes_from=self.bytes_from,
        )
