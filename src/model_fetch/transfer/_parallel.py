"""Parallel ranged download of one large file over several connections.

The file is preallocated and its missing bytes are split into segments that ``connections``
worker threads take in order; each writes its bytes in place with ``os.pwrite``. The segments
come from a :class:`._reader.RangeReader`: over HTTP every request carries ``If-Range`` with the
validator of the first answer and a reply is accepted only as a ``206`` whose ``Content-Range`` is
exactly the range asked for, so bytes are never spliced from another version of the file; the
fleet mirror reads its objects the same way through fsspec (:func:`copy_object`).

- **Hashing** overlaps the transfer: the calling thread hashes the contiguous prefix as it grows,
  reading it back from the page cache, so no second pass over the network is needed.
- **Slow ranges are re-split.** A worker with nothing left to take splits the in-flight segment
  that would finish last, when that is more than :data:`SPLIT_AFTER` seconds away at its own
  pace: it takes the second half over a new connection and the slow one stops at the midpoint.
  A stalled range is restarted by its read timeout and resumed where it stopped.
- **Durable progress.** Each time the hashed prefix grows by :data:`SYNC_EVERY`, a background
  thread syncs the file and then reports the byte ranges that were complete *before* the sync, so
  the resume sidecar never claims bytes a crash could lose. A later call skips those ranges.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Final

import attrs

from model_fetch._cancel import check_cancelled, on_cancel
from model_fetch.exceptions import DownloadFailed
from model_fetch.transfer._flow import BackgroundSync, StallGuard
from model_fetch.transfer._outcome import FetchOutcome, new_hashers
from model_fetch.transfer._ranges import Coverage, RangeFailed, Spans
from model_fetch.transfer._retry import Retry, Retryable, run_with_retries

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable, Iterable

    from model_fetch.checksums import Checksum
    from model_fetch.transfer._reader import RangeReader

__all__ = [
    "PARALLEL_MIN_SIZE",
    "SEGMENT_SIZE",
    "Coverage",
    "RangeFailed",
    "Spans",
    "copy_object",
    "fetch_ranges",
]

#: Files smaller than this are fetched over one connection (``options.parallel_min_size``).
PARALLEL_MIN_SIZE: Final = 64 * 1024 * 1024
#: The unit of work a connection takes; larger than nginx's unpaced first 2 MiB.
SEGMENT_SIZE: Final = 16 * 1024 * 1024
#: A segment is split only when both halves would be at least this large.
MIN_SPLIT: Final = 2 * 1024 * 1024
#: ...and only when, at its own pace, it would still need more than this many seconds.
SPLIT_AFTER: Final = 1.0
#: The prefix is synced (and the resume sidecar updated) every this many bytes.
SYNC_EVERY: Final = 16 * 1024 * 1024


@attrs.define
class _Segment:
    """One range a worker fetches; ``end`` shrinks when another worker takes its second half."""

    start: int
    end: int
    position: int = attrs.field()
    began: float = 0.0
    began_at: int = 0

    @position.default
    def _position(self) -> int:
        return self.start


class _Shared:
    def __init__(self, segments: list[_Segment]) -> None:
        self.lock = threading.Condition()
        self.queue = segments
        self.active: list[_Segment] = []
        #: Stops every worker at once (a cancel, a server breaking the range rules).
        self.error: BaseException | None = None
        #: A segment ran out of retries: the others finish what they hold, then all stop, so
        #: as much as possible is kept for a resume.
        self.failed: BaseException | None = None

    def finished(self) -> bool:
        return not self.queue and not self.active

    def stop_reason(self) -> BaseException | None:
        """Why the transfer must stop now, if it must (lock held)."""
        if self.error is not None:
            return self.error
        return self.failed if self.failed is not None and not self.active else None


@attrs.frozen(kw_only=True)
class _Transfer:
    """Everything every range of one file shares."""

    reader: RangeReader
    fd: int
    size: int
    timeout: float
    cancel: threading.Event | None
    on_bytes: Callable[[int], None]
    retries: int
    coverage: Coverage
    shared: _Shared
    split_slow: bool


def fetch_ranges(
    *,
    reader: RangeReader,
    fd: int,
    size: int,
    connections: int,
    timeout: float,
    cancel: threading.Event | None,
    hashers: list[hashlib._Hash],
    on_bytes: Callable[[int], None],
    retries: int,
    coverage: Coverage,
    on_durable: Callable[[Spans], None] | None,
    segment_size: int = SEGMENT_SIZE,
    split_slow: bool = True,
) -> None:
    """Fetch the bytes of a file that ``coverage`` lacks into ``fd`` over several connections.

    Args:
        reader: Opens the ranges of the remote file.
        fd: The preallocated file, ``size`` bytes long.
        size: The file's size.
        connections: How many ranges are read at once.
        timeout: The stall guard's window (fewer than 1 KiB in it restarts a range).
        cancel: Stops the transfer when set.
        hashers: Fed the whole file in order, the complete ranges from disk included.
        on_bytes: Called with each count of new bytes written.
        retries: Fruitless retries allowed per segment.
        coverage: The ranges already complete; updated as segments complete.
        on_durable: Called with the ranges known to be on disk after each background sync.
        segment_size: The unit of work a connection takes.
        split_slow: Whether idle connections take over the second half of slow segments (only
            worth it for readers whose progress shows within a read).

    Raises:
        RangeFailed: A segment failed after its retries, or the answer broke the range rules.
        DownloadCancelled: ``cancel`` was set.
    """
    segments = [
        _Segment(start, min(start + segment_size, end))
        for gap_start, end in coverage.gaps(size)
        for start in range(gap_start, end, segment_size)
    ]
    job = _Transfer(
        reader=reader,
        fd=fd,
        size=size,
        timeout=timeout,
        cancel=cancel,
        on_bytes=on_bytes,
        retries=retries,
        coverage=coverage,
        shared=_Shared(segments),
        split_slow=split_slow,
    )
    threads = [
        threading.Thread(target=_worker, args=(job,), name=f"model_fetch-range-{n}", daemon=True)
        for n in range(min(connections, max(len(segments), 1)))
    ]
    for thread in threads:
        thread.start()
    try:
        _hash_in_order(job, hashers, on_durable)
    finally:
        with job.shared.lock:
            job.shared.error = job.shared.error or RangeFailed("stopped")
            job.shared.queue.clear()
            job.shared.lock.notify_all()
        for thread in threads:
            thread.join()


def copy_object(
    reader: RangeReader,
    dest: str,
    *,
    size: int,
    checksums: Iterable[Checksum],
    on_position: Callable[[int], None],
    cancel: threading.Event | None,
    connections: int,
    segment_size: int = SEGMENT_SIZE,
    timeout: float = 300.0,
) -> FetchOutcome:
    """Copy a remote object of known size into ``dest`` with parallel ranged reads.

    The bytes are hashed while they are copied (one pass), and the file is fsynced.

    Args:
        reader: Opens the ranges of the object.
        dest: The local file (created or truncated).
        size: The object's size.
        checksums: The digests the bytes will be checked against (their algorithms are hashed).
        on_position: Called with the bytes copied so far.
        cancel: Stops the copy with DownloadCancelled when set.
        connections: How many ranges are read at once.
        segment_size: The unit of work a connection takes (one read each for fsspec).
        timeout: The stall guard's window.

    Returns:
        The size and digests of the copy.

    Raises:
        RangeFailed: A range could not be read whole.
    """
    hashers = new_hashers(checksums, size)
    done = 0
    lock = threading.Lock()

    def on_bytes(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            on_position(done)

    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    fd = os.open(dest, flags, 0o644)
    try:
        os.ftruncate(fd, size)
        fetch_ranges(
            reader=reader,
            fd=fd,
            size=size,
            connections=connections,
            timeout=timeout,
            cancel=cancel,
            hashers=list(hashers.values()),
            on_bytes=on_bytes,
            retries=0,
            coverage=Coverage(),
            on_durable=None,
            segment_size=segment_size,
            split_slow=False,  # a whole segment is one read: a split would fetch bytes twice
        )
        os.fsync(fd)
    finally:
        os.close(fd)
    return FetchOutcome.of(hashers, size=size, attempts=1)


def _worker(job: _Transfer) -> None:
    while (segment := _take(job)) is not None:
        error: BaseException | None = None
        try:
            _fetch_segment(job, segment)
        except BaseException as exc:  # noqa: BLE001 - handed to the hashing thread
            error = exc
        shared = job.shared
        with shared.lock:
            # Only what was written counts: a segment stopped early holds [start, position).
            job.coverage.add(segment.start, segment.position)
            shared.active.remove(segment)
            if isinstance(error, RangeFailed) and not error.restart:
                shared.failed = shared.failed or error
            elif error is not None:
                shared.error = shared.error or error
            shared.lock.notify_all()
        if error is not None:
            return


def _take(job: _Transfer) -> _Segment | None:
    """The next segment to fetch (waiting for one to split), or None when the work is over."""
    shared = job.shared
    with shared.lock:
        segment = None
        while segment is None:
            if shared.error is not None or shared.failed is not None or shared.finished():
                return None
            if shared.queue:
                segment = shared.queue.pop(0)
            elif job.split_slow:
                segment = _split_slowest(shared)
            if segment is None:
                shared.lock.wait(0.1)
        segment.began, segment.began_at = time.monotonic(), segment.position
        shared.active.append(segment)
        return segment


def _split_slowest(shared: _Shared) -> _Segment | None:
    """Take the second half of the in-flight segment that would finish last (lock held)."""
    now = time.monotonic()
    best: tuple[float, _Segment] | None = None
    for segment in shared.active:
        remaining = segment.end - segment.position
        elapsed = now - segment.began
        if remaining < 2 * MIN_SPLIT or elapsed < SPLIT_AFTER:
            continue
        pace = (segment.position - segment.began_at) / elapsed
        eta = remaining / pace if pace > 0 else float("inf")
        if eta > SPLIT_AFTER and (best is None or eta > best[0]):
            best = (eta, segment)
    if best is None:
        return None
    slow = best[1]
    # The owner may be one read past ``position``; the midpoint is MIN_SPLIT beyond that.
    middle = slow.position + (slow.end - slow.position) // 2
    taken = _Segment(middle, slow.end)
    slow.end = middle
    return taken


def _hash_in_order(
    job: _Transfer,
    hashers: list[hashlib._Hash],
    on_durable: Callable[[Spans], None] | None,
) -> None:
    """Hash the file's contiguous prefix as it completes; sync it now and then."""
    shared = job.shared
    # Every byte in a snapshot of the coverage was written before the sync that follows it.
    syncer = BackgroundSync(job.fd, job.coverage.spans, on_durable)
    hashed = synced = 0
    try:
        while hashed < job.size:
            with shared.lock:
                while (ready := job.coverage.prefix()) <= hashed and not shared.stop_reason():
                    shared.lock.wait(0.2)
                    if job.cancel is not None and job.cancel.is_set():
                        shared.error = shared.error or _cancelled(job.cancel)
                if (reason := shared.stop_reason()) is not None:
                    raise reason
            _hash_range(job.fd, hashed, ready, hashers)
            hashed = ready
            if hashed - synced >= SYNC_EVERY:
                syncer.request()  # flush what is done while the rest arrives
                synced = hashed
    finally:
        syncer.stop()


def _cancelled(cancel: threading.Event) -> BaseException:
    try:
        check_cancelled(cancel)
    except BaseException as exc:  # noqa: BLE001 - turned into a value
        return exc
    return RangeFailed("cancelled")  # pragma: no cover - cancel is set when called


def _hash_range(fd: int, start: int, end: int, hashers: list[hashlib._Hash]) -> None:
    offset = start
    while offset < end:
        chunk = os.pread(fd, min(1 << 20, end - offset), offset)
        if not chunk:
            raise DownloadFailed("the file is shorter than the bytes written to it")
        for hasher in hashers:
            hasher.update(chunk)
        offset += len(chunk)


def _fetch_segment(job: _Transfer, segment: _Segment) -> None:
    """Fetch one segment, resuming it within itself; progress resets its retry budget."""

    def give_up(exc: Retryable, _retry: Retry) -> BaseException:
        return RangeFailed(f"bytes {segment.position}-{segment.end - 1} failed: {exc.reason}")

    run_with_retries(
        lambda: _read_segment(job, segment),
        Retry(retries=job.retries, backoff=False, progress_is_free=True, furthest=segment.position),
        reached=lambda: segment.position,
        give_up=give_up,
        cancel=job.cancel,
        label=f"the range from byte {segment.position}",
    )


def _read_segment(job: _Transfer, segment: _Segment) -> None:
    """Read the rest of a segment over one request; return early when the transfer stops."""
    if job.shared.error is not None:
        return
    offset, asked_end = segment.position, segment.end
    stream = job.reader.open(offset, asked_end)
    complete = False
    try:
        window = StallGuard(job.timeout, time.monotonic)
        read = stream.read
        with on_cancel(job.cancel, stream.shutdown):
            while offset < segment.end:  # ``end`` moves back when another worker splits it
                check_cancelled(job.cancel)
                if job.shared.error is not None:
                    return
                data = read(segment.end - offset)
                if not data:
                    break
                if window.stalled(len(data)):
                    raise Retryable(window.reason)
                view = memoryview(data)[: max(segment.end - offset, 0)]
                counted = len(view)
                while view:
                    written = os.pwrite(job.fd, view, offset)
                    view = view[written:]
                    offset += written
                    segment.position = offset
                job.on_bytes(counted)
        complete = offset == asked_end
        if offset < segment.end:
            raise Retryable(f"range closed early at byte {offset}")
    finally:
        stream.release(complete=complete)
