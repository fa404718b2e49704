"""Parallel ranged download of one large file over several connections.

The file is preallocated and split into fixed-size segments that ``connections`` worker threads
take in order; each writes its bytes in place with ``os.pwrite``. Every range request carries
``If-Range`` with the validator of the first answer, and a reply is accepted only as a ``206``
whose ``Content-Range`` is exactly the segment asked for: bytes are never spliced from another
version of the file. Meanwhile the calling thread hashes the contiguous prefix as segments
complete, reading it back from the page cache, so no second pass over the network is needed
and hashing overlaps the transfer.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Final

import attrs
import urllib3

from model_fetch._cancel import check_cancelled, on_cancel
from model_fetch.exceptions import DownloadFailed
from model_fetch.transfer._resume import parse_content_range

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable, Mapping

    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._policy import UrlPolicy

__all__ = ["PARALLEL_MIN_SIZE", "SEGMENT_SIZE", "RangeFailed", "fetch_ranges"]

#: Files smaller than this are fetched over one connection.
PARALLEL_MIN_SIZE: Final = 64 * 1024 * 1024
#: The unit of work a connection takes; larger than nginx's unpaced first 2 MiB.
SEGMENT_SIZE: Final = 16 * 1024 * 1024
_READ: Final = 256 * 1024


class RangeFailed(Exception):
    """A segment could not be fetched; ``restart`` means ranges cannot be trusted at all."""

    def __init__(self, reason: str, *, restart: bool = False) -> None:
        """Record why."""
        super().__init__(reason)
        self.reason = reason
        self.restart = restart


class _Shared:
    def __init__(self, count: int) -> None:
        self.lock = threading.Condition()
        self.next = 0
        self.done = [False] * count
        self.error: BaseException | None = None


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
) -> None:
    """Fetch ``size`` bytes of ``url`` into ``fd`` over ``connections`` connections.

    Raises:
        RangeFailed: A segment failed after its retries, or the server broke the range rules.
        DownloadCancelled: ``cancel`` was set.
    """
    segments = [(start, min(start + SEGMENT_SIZE, size)) for start in range(0, size, SEGMENT_SIZE)]
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
        shared=_Shared(len(segments)),
    )
    threads = [
        threading.Thread(
            target=_worker, args=(job, segments), name=f"model_fetch-range-{n}", daemon=True
        )
        for n in range(min(connections, len(segments)))
    ]
    for thread in threads:
        thread.start()
    try:
        _hash_in_order(job, segments, hashers)
    finally:
        with job.shared.lock:
            job.shared.error = job.shared.error or RangeFailed("stopped")
            job.shared.next = len(segments)
        for thread in threads:
            thread.join()


def _worker(job: _Transfer, segments: list[tuple[int, int]]) -> None:
    shared = job.shared
    while True:
        with shared.lock:
            if shared.error is not None or shared.next >= len(segments):
                return
            index = shared.next
            shared.next += 1
        start, end = segments[index]
        try:
            _fetch_segment(job, start, end)
        except BaseException as exc:  # noqa: BLE001 - handed to the hashing thread
            with shared.lock:
                shared.error = shared.error or exc
                shared.lock.notify_all()
            return
        with shared.lock:
            shared.done[index] = True
            shared.lock.notify_all()


def _hash_in_order(
    job: _Transfer,
    segments: list[tuple[int, int]],
    hashers: list[hashlib._Hash],
) -> None:
    """Hash the file's contiguous prefix as segments complete (reading the page cache)."""
    shared = job.shared
    syncer = _Syncer(job.fd)
    try:
        for index, (start, end) in enumerate(segments):
            with shared.lock:
                while not shared.done[index] and shared.error is None:
                    shared.lock.wait(0.2)
                    if job.cancel is not None and job.cancel.is_set():
                        shared.error = shared.error or _cancelled(job.cancel)
                if shared.error is not None:
                    raise shared.error
            _hash_range(job.fd, start, end, hashers)
            syncer.request()  # flush what is done while the rest arrives
    finally:
        syncer.stop()


class _Syncer:
    """Syncs the file in the background, so the final fsync only has the last stretch."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="model_fetch-sync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            with contextlib.suppress(OSError):  # the final fsync reports real failures
                getattr(os, "fdatasync", os.fsync)(self._fd)

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()


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


def _fetch_segment(job: _Transfer, start: int, end: int) -> None:
    """Fetch one segment, resuming it within itself; progress resets its retry budget."""
    position = [start]
    fruitless = 0
    while position[0] < end:
        before = position[0]
        try:
            _one_request(job, position, end)
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            fruitless = 0 if position[0] > before else fruitless + 1
            if fruitless > job.retries:
                raise RangeFailed(f"bytes {position[0]}-{end - 1} failed: {exc}") from exc
        if job.shared.error is not None:
            return


def _one_request(job: _Transfer, position: list[int], end: int) -> None:
    offset = position[0]
    sent = {**job.headers, "Range": f"bytes={offset}-{end - 1}", "If-Range": job.validator}
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
            or content_range.end != end - 1
            or content_range.total not in (None, job.size)
        ):
            raise RangeFailed("the server answered another range than asked", restart=True)
        with on_cancel(job.cancel, response.shutdown):
            while offset < end:
                check_cancelled(job.cancel)
                if job.shared.error is not None:
                    return
                data = response.read1(min(_READ, end - offset))
                if not data:
                    break
                view = memoryview(data)
                while view:
                    written = os.pwrite(job.fd, view, offset)
                    view = view[written:]
                    offset += written
                    position[0] = offset
                job.on_bytes(len(data))
        complete = offset == end
        if not complete:
            raise urllib3.exceptions.ProtocolError(f"range closed early at byte {offset}")
    finally:
        if complete:
            response.release_conn()
        else:
            response.close()
            response.release_conn()
