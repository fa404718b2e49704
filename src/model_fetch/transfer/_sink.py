"""Where one attempt's bytes go: counting, the stall guard, space checks, the partial's record."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING

from model_fetch._cancel import check_cancelled
from model_fetch._log import redact_url
from model_fetch.exceptions import DownloadFailed
from model_fetch.transfer._flow import Pace, StallGuard
from model_fetch.transfer._outcome import new_hashers
from model_fetch.transfer._ranges import Coverage
from model_fetch.transfer._resume import ResumeState
from model_fetch.transfer._retry import Retryable
from model_fetch.transfer._writer import Writer, preallocate

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._clock import Clock
    from model_fetch._models import RemoteFile
    from model_fetch.transfer._partial import PartialFile
    from model_fetch.transfer._ranges import Spans

__all__ = ["Sink"]


class Sink:
    """Counts received bytes, enforces the stall guard and space checks, and feeds the writer."""

    def __init__(
        self,
        fd: int,
        remote: RemoteFile,
        *,
        clock: Clock,
        timeout: float,
        pace: Pace | None = None,
        max_unknown_size: int | None = None,
        on_position: Callable[[int], None],
        reserve: Callable[[int], None],
        cancel: threading.Event | None = None,
        partial: PartialFile | None = None,
    ) -> None:
        self.fd = fd
        self.cancel = cancel
        self.partial = partial
        self.validator: str | None = None
        self.total: int | None = None
        self.started_at = 0
        self.hashers = new_hashers(remote.checksums, remote.size)
        self.position = 0
        self._stall = StallGuard(timeout, clock.monotonic)
        self._pace = pace
        self._max_unknown_size = max_unknown_size
        self._url = remote.url
        self._on_position = on_position
        self._reserve = reserve
        self._writer: Writer | None = None
        self.parallel = False
        self.coverage: Coverage | None = None
        self._advance_lock = threading.Lock()

    @property
    def begun(self) -> bool:
        """Whether the body started (so the file holds ``written`` valid bytes)."""
        return self._writer is not None or self.coverage is not None

    @property
    def written(self) -> int:
        """Bytes from the start of the file that were written (valid within this process)."""
        if self.coverage is not None:
            return self.coverage.prefix()
        return self._writer.written if self._writer is not None else self.started_at

    def begin(self, start: int, *, validator: str | None, total: int | None) -> None:
        """Start the body at byte ``start``: keep (and re-hash) the prefix, drop the rest.

        A known size is preallocated (see :func:`._writer.preallocate`).
        """
        os.ftruncate(self.fd, start)
        offset = 0
        while offset < start:  # the digest covers the whole file, so the kept prefix is re-hashed
            chunk = os.pread(self.fd, min(1 << 20, start - offset), offset)
            if not chunk:
                raise Retryable("the partial file is shorter than its record", restart=True)
            for hasher in self.hashers.values():
                hasher.update(chunk)
            offset += len(chunk)
        if total is not None:
            preallocate(self.fd, start, total)
        os.lseek(self.fd, start, os.SEEK_SET)
        self.position = self.started_at = start
        self.validator, self.total = validator, total
        self._writer = Writer(self.fd, self.hashers, start=start, on_synced=self._synced)

    def begin_parallel(self, *, validator: str, total: int, keep: Spans) -> Coverage:
        """Start a parallel ranged body: preallocate the file; ranges write in place.

        ``keep`` names byte ranges already on disk from an earlier attempt of the same file
        (same validator and size); everything else is fetched again.
        """
        if not keep:
            os.ftruncate(self.fd, 0)
        os.ftruncate(self.fd, total)
        self.coverage = Coverage(keep)
        self.position = self.started_at = self.coverage.total()
        self.validator, self.total = validator, total
        self.parallel = True
        self._on_position(self.position)
        return self.coverage

    def durable(self, spans: Spans) -> None:
        """Record the ranges of a parallel download that a sync made durable."""
        if self.partial is not None and self.validator is not None:
            completed = spans[0][1] if spans and spans[0][0] == 0 else 0
            self.partial.save(
                validator=self.validator, size=self.total, completed=completed, ranges=spans
            )

    def advance(self, size: int) -> None:
        """Count bytes a range worker wrote (thread-safe)."""
        with self._advance_lock:
            self._reserve(self.position + size)
            self.position += size
            self._on_position(self.position)
            self._check_pace(size)

    def _synced(self, durable: int) -> None:
        if self.partial is not None and self.validator is not None:
            self.partial.save(validator=self.validator, size=self.total, completed=durable)

    def keep(self) -> ResumeState | None:
        """After a failure: make what was written durable and record it for a later resume.

        Returns:
            Where the next attempt may resume, or None when nothing can be resumed.
        """
        if not self.begun or self.validator is None:
            return None
        spans = self.coverage.spans() if self.coverage is not None else ()
        with contextlib.suppress(OSError):
            os.fsync(self.fd)
            if self.partial is not None:
                self.partial.save(
                    validator=self.validator, size=self.total, completed=self.written, ranges=spans
                )
        return ResumeState(
            url=self.partial.url if self.partial is not None else "",
            validator=self.validator,
            size=self.total,
            completed=self.written,
            ranges=spans,
        )

    def write(self, data: bytes | memoryview, *, already_written: bool = False) -> None:
        """Count, hash and write one received buffer (``already_written``: only hash it)."""
        check_cancelled(self.cancel)
        if self._writer is None:  # pragma: no cover - every attempt begins before its body
            raise RuntimeError("write before begin")
        size = len(data)
        limit = self._max_unknown_size
        if limit is not None and self.total is None and self.position + size > limit:
            url = redact_url(self._url)
            raise DownloadFailed(
                f"Download failed: {url} sent more than {limit} bytes, the server's limit for a "
                "file of unknown size (MODEL_FETCH_MAX_UNKNOWN_SIZE)",
                url=url,
                bytes_received=self.position,
            )
        self._reserve(self.position + size)
        self._writer.put(data, write=not already_written)
        self.position += size
        self._on_position(self.position)
        if self._stall.stalled(size):
            raise Retryable(self._stall.reason)
        self._check_pace(size)

    def _check_pace(self, size: int) -> None:
        """Raise Retryable when the attempt is too slow, DeadlinePassed when time is up."""
        if self._pace is not None:
            reason = self._pace.too_slow(size)
            if reason is not None:
                raise Retryable(reason)

    def finish(self) -> None:
        """Wait until every received byte is hashed and written; raise a writer error."""
        if self._writer is not None:
            self._writer.close()

    def abandon(self) -> None:
        """Stop the writer after a failed attempt, ignoring what it failed with."""
        if self._writer is not None:
            with contextlib.suppress(BaseException):
                self._writer.close()
