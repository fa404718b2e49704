"""Parallel ranged download of one large file over several connections.

The file is preallocated and its missing bytes are split into segments that ``connections``
worker threads take in order; each writes its bytes in place with ``os.pwrite``. Every range
request carries ``If-Range`` with the validator of the first answer, and a reply is accepted only
as a ``206`` whose ``Content-Range`` is exactly the range asked for: bytes are never spliced from
another version of the file.

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

import bisect
import os
import threading
import time
from typing import TYPE_CHECKING, Final

import attrs
import urllib3

from model_fetch._cancel import check_cancelled, on_cancel
from model_fetch.exceptions import DownloadFailed
from model_fetch.transfer._flow import BackgroundSync, StallGuard
from model_fetch.transfer._resume import parse_content_range

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable, Iterable, Mapping

    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._policy import UrlPolicy

__all__ = [
    "PARALLEL_MIN_SIZE",
    "SEGMENT_SIZE",
    "Coverage",
    "RangeFailed",
    "Spans",
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
_READ: Final = 256 * 1024

#: Byte ranges as ``(start, end)`` pairs, end exclusive.
Spans = tuple[tuple[int, int], ...]


class RangeFailed(Exception):
    """A segment could not be fetched; ``restart`` means ranges cannot be trusted at all."""

    def __init__(self, reason: str, *, restart: bool = False) -> None:
        """Record why."""
        super().__init__(reason)
        self.reason = reason
        self.restart = restart


class Coverage:
    """The byte ranges of a file that are complete, kept merged and sorted (thread-safe).

    Args:
        spans: Ranges already complete (from a resumed partial).
    """

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        """Start with ``spans``."""
        self._lock = threading.Lock()
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` complete."""
        if end <= start:
            return
        with self._lock:
            first = bisect.bisect_left(self._ends, start)  # first span that ends at or after it
            last = bisect.bisect_right(self._starts, end)  # spans from first..last-1 touch it
            if first < last:
                start = min(start, self._starts[first])
                end = max(end, self._ends[last - 1])
            self._starts[first:last] = [start]
            self._ends[first:last] = [end]

    def prefix(self) -> int:
        """How many bytes from the start of the file are complete."""
        with self._lock:
            return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def total(self) -> int:
        """How many bytes are complete in all."""
        with self._lock:
            return sum(end - start for start, end in zip(self._starts, self._ends, strict=True))

    def spans(self) -> Spans:
        """The complete ranges."""
        with self._lock:
            return tuple(zip(self._starts, self._ends, strict=True))

    def gaps(self, size: int) -> Spans:
        """The ranges of ``[0, size)`` that are not complete."""
        gaps: list[tuple[int, int]] = []
        position = 0
        for start, end in self.spans():
            if start > position:
                gaps.append((position, min(start, size)))
            position = max(position, end)
        if position < size:
            gaps.append((position, size))
        return tuple(gaps)


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
    """Everything every range request of one file shares."""

    http: HttpClient
    url: str
    headers: Mapping[str, str]
    fd: int
    size: int
    validator: str
    timeout: float
    verify: bool
    policy: UrlPolicy | None
    cancel: threading.Event | None
    on_bytes: Callable[[int], None]
    retries: int
    coverage: Coverage
    shared: _Shared


def fetch_ranges(
    *,
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    fd: int,
    size: int,
    validator: str,
    connections: int,
    timeout: float,
    verify: bool,
    policy: UrlPolicy | None,
    cancel: threading.Event | None,
    hashers: list[hashlib._Hash],
    on_bytes: Callable[[int], None],
    retries: int,
    coverage: Coverage,
    on_durable: Callable[[Spans], None],
) -> None:
    """Fetch the bytes of ``url`` that ``coverage`` lacks into ``fd`` over several connections.

    Args:
        http: The HTTP client.
        url: The file's URL.
        headers: Headers for every request (Range and If-Range are added).
        fd: The preallocated file, ``size`` bytes long.
        size: The file's size.
        validator: The If-Range validator of the first answer.
        connections: How many requests run at once.
        timeout: Connect and read timeout of each request.
        verify: Whether to verify TLS certificates.
        policy: The URL policy for untrusted requests.
        cancel: Stops the transfer when set.
        hashers: Fed the whole file in order, the complete ranges from disk included.
        on_bytes: Called with each count of new bytes written.
        retries: Fruitless retries allowed per segment.
        coverage: The ranges already complete; updated as segments complete.
        on_durable: Called with the ranges known to be on disk after each background sync.

    Raises:
        RangeFailed: A segment failed after its retries, or the server broke the range rules.
        DownloadCancelled: ``cancel`` was set.
    """
    segments = [
        _Segment(start, min(start + SEGMENT_SIZE, end))
        for gap_start, end in coverage.gaps(size)
        for start in range(gap_start, end, SEGMENT_SIZE)
    ]
    job = _Transfer(
        http=http,
        url=url,
        headers=headers,
        fd=fd,
        size=size,
        validator=validator,
        timeout=timeout,
        verify=verify,
        policy=policy,
        cancel=cancel,
        on_bytes=on_bytes,
        retries=retries,
        coverage=coverage,
        shared=_Shared(segments),
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


def _worker(job: _Transfer) -> None:
    shared = job.shared
    while True:
        with shared.lock:
            segment = None
            while segment is None:
                if shared.error is not None or shared.failed is not None or shared.finished():
                    return
                segment = shared.queue.pop(0) if shared.queue else _split_slowest(shared)
                if segment is None:
                    shared.lock.wait(0.1)
            segment.began, segment.began_at = time.monotonic(), segment.position
            shared.active.append(segment)
        try:
            _fetch_segment(job, segment)
        except BaseException as exc:  # noqa: BLE001 - handed to the hashing thread
            with shared.lock:
                if isinstance(exc, RangeFailed) and not exc.restart:
                    shared.failed = shared.failed or exc
                else:
                    shared.error = shared.error or exc
                shared.active.remove(segment)
                shared.lock.notify_all()
            return
        with shared.lock:
            job.coverage.add(segment.start, segment.end)
            shared.active.remove(segment)
            shared.lock.notify_all()


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
    on_durable: Callable[[Spans], None],
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
    fruitless = 0
    while segment.position < segment.end:
        before = segment.position
        try:
            _one_request(job, segment)
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            fruitless = 0 if segment.position > before else fruitless + 1
            if fruitless > job.retries:
                raise RangeFailed(
                    f"bytes {segment.position}-{segment.end - 1} failed: {exc}"
                ) from exc
        if job.shared.error is not None:
            return


def _one_request(job: _Transfer, segment: _Segment) -> None:
    offset, asked_end = segment.position, segment.end
    sent = {**job.headers, "Range": f"bytes={offset}-{asked_end - 1}", "If-Range": job.validator}
    response = job.http.request(
        "GET", job.url, headers=sent, timeout=job.timeout, verify=job.verify, policy=job.policy
    )
    complete = False
    try:
        if response.status != 206:  # noqa: PLR2004 - only Partial Content can be placed
            raise RangeFailed(f"HTTP {response.status} to a range request", restart=True)
        content_range = parse_content_range(response.headers.get("Content-Range"))
        if (
            content_range is None
            or content_range.start != offset
            or content_range.end != asked_end - 1
            or content_range.total not in (None, job.size)
        ):
            raise RangeFailed("the server answered another range than asked", restart=True)
        window = StallGuard(job.timeout, time.monotonic)
        with on_cancel(job.cancel, response.shutdown):
            while offset < segment.end:  # ``end`` moves back when another worker splits it
                check_cancelled(job.cancel)
                if job.shared.error is not None:
                    return
                data = response.read1(min(_READ, segment.end - offset))
                if not data:
                    break
                if window.stalled(len(data)):
                    raise urllib3.exceptions.ProtocolError(window.reason)
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
            raise urllib3.exceptions.ProtocolError(f"range closed early at byte {offset}")
    finally:
        if complete:
            response.release_conn()
        else:  # a split segment leaves bytes unread: the connection cannot be reused
            response.close()
            response.release_conn()
