"""The transfer engine: fetch one file into a local staging path, hashing as bytes arrive.

Each attempt streams the body with ``Accept-Encoding: identity`` into an unbuffered file and
feeds every buffer to the hashers before writing it, so the digest is of exactly the bytes stored.
Failures that may pass (connection errors, timeouts, stalls, 5xx, 429) are retried with backoff;
the rest fail at once. The file is fsynced before the engine returns.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import random
import sys
import threading
import time
from typing import TYPE_CHECKING, Final

import attrs
import urllib3

from model_fetch._cancel import check_cancelled, on_cancel
from model_fetch._log import get_logger, redact_url
from model_fetch.exceptions import (
    DownloadFailed,
    InsufficientStorage,
    ModelFetchError,
    ModelNotFound,
)
from model_fetch.transfer._flow import STALL_MIN_BYTES, BackgroundSync, StallGuard
from model_fetch.transfer._resume import ResumeState, parse_content_range, usable_validator
from model_fetch.transfer._retry import RETRY_STATUSES, backoff_delay, parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._clock import Clock
    from model_fetch._models import DownloadOptions, RemoteFile
    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._parallel import Coverage, Spans
    from model_fetch.transfer._policy import UrlPolicy
    from model_fetch.transfer._resume import PartialFile

__all__ = ["MIN_BUFFER", "STALL_MIN_BYTES", "FetchOutcome", "Transfer"]

log = get_logger(__name__)

#: Reads use buffers of at least this size; smaller writes cost more than they save.
MIN_BUFFER: Final = 256 * 1024
#: Buffers in flight between the receiving thread and the writer (bounds memory).
QUEUE_DEPTH: Final = 32
#: The writer syncs the file to disk every this many bytes, so the final fsync is short...
SYNC_EVERY: Final = 64 * 1024 * 1024
#: ...or every this many seconds, so a slow download records its progress for a resume too.
SYNC_INTERVAL: Final = 1.0
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class _Retryable(Exception):
    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        restart: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.restart = restart


@attrs.frozen(kw_only=True)
class FetchOutcome:
    """What one file's transfer produced.

    Attributes:
        size: Bytes written.
        sha256: Hex sha256 of the bytes.
        digests: Hex digests by algorithm, for sha256 and every expected checksum's algorithm.
        attempts: How many attempts it took.
    """

    size: int
    sha256: str
    digests: dict[str, str]
    attempts: int


def _no_space(exc: OSError, written: int) -> InsufficientStorage:
    error = InsufficientStorage(
        f"Insufficient storage space: the disk filled up after {written / 2**20:.1f}MB "
        f"({os.strerror(exc.errno or 0)})",
        required_bytes=None,
        available_bytes=0,
    )
    error.__cause__ = exc
    return error


class _Writer:
    """Hashes and writes received buffers on a worker thread, overlapped with receiving.

    Memory is bounded by the queue depth (each item is one received buffer). Every
    :data:`SYNC_EVERY` bytes a third thread syncs the file to disk while the writer goes on, so
    the final fsync before the install record only has the last stretch to flush and no sync
    ever stalls the transfer. hashlib, ``os.write`` and ``fdatasync`` release the GIL, so the
    threads run in parallel. (A separate hashing thread was measured slower on two cores: the
    hand-offs cost more than the overlap gains.)
    """

    def __init__(
        self,
        fd: int,
        hashers: dict[str, hashlib._Hash],
        *,
        start: int = 0,
        on_synced: Callable[[int], None] | None = None,
    ) -> None:
        self._fd = fd
        self._hashers = list(hashers.values())
        self._queue: queue.Queue[tuple[bytes | memoryview, bool] | None] = queue.Queue(
            maxsize=QUEUE_DEPTH,
        )
        self.error: BaseException | None = None
        self.written = start
        self._syncer = BackgroundSync(fd, lambda: self.written, on_synced)
        self._thread = threading.Thread(target=self._run, name="model_fetch-writer", daemon=True)
        self._thread.start()

    def put(self, data: bytes | memoryview, *, write: bool) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((data, write))

    def _run(self) -> None:
        unsynced = 0
        last_sync = time.monotonic()
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the receiving side never blocks on a full queue
            data, write = item
            try:
                for hasher in self._hashers:
                    hasher.update(data)
                if write:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._fd, view) :]
                self.written += len(data)
                unsynced += len(data)
                now = time.monotonic()
                if unsynced >= SYNC_EVERY or now - last_sync >= SYNC_INTERVAL:
                    self._syncer.request()
                    unsynced, last_sync = 0, now
            except OSError as exc:
                self.error = _no_space(exc, self.written) if exc.errno in _NO_SPACE else exc
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
                self.error = exc

    def close(self) -> None:
        """Flush the queue and stop the threads; raise the first error the writer met."""
        self._queue.put(None)
        self._thread.join()
        self._syncer.stop()
        if self.error is not None:
            raise self.error


class _Sink:
    """Counts received bytes, enforces the stall guard and space checks, and feeds the writer."""

    def __init__(
        self,
        fd: int,
        remote: RemoteFile,
        *,
        clock: Clock,
        timeout: float,
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
        self.sha256 = hashlib.sha256()
        # One hasher per algorithm; sha256 is always computed for the install record.
        self.hashers = {"sha256": self.sha256}
        for checksum in remote.checksums:
            if checksum.algorithm not in self.hashers:
                self.hashers[checksum.algorithm] = checksum.hasher(remote.size)
        self.position = 0
        self._clock = clock
        self._stall = StallGuard(timeout, clock.monotonic)
        self._on_position = on_position
        self._reserve = reserve
        self._writer: _Writer | None = None
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
        """Start the body at byte ``start``: keep (and re-hash) the prefix, drop the rest."""
        os.ftruncate(self.fd, start)
        offset = 0
        while offset < start:  # the digest covers the whole file, so the kept prefix is re-hashed
            chunk = os.pread(self.fd, min(1 << 20, start - offset), offset)
            if not chunk:
                raise _Retryable("the partial file is shorter than its record", restart=True)
            for hasher in self.hashers.values():
                hasher.update(chunk)
            offset += len(chunk)
        os.lseek(self.fd, start, os.SEEK_SET)
        self.position = self.started_at = start
        self.validator, self.total = validator, total
        self._writer = _Writer(self.fd, self.hashers, start=start, on_synced=self._synced)

    def begin_parallel(self, *, validator: str, total: int, keep: Spans) -> Coverage:
        """Start a parallel ranged body: preallocate the file; ranges write in place.

        ``keep`` names byte ranges already on disk from an earlier attempt of the same file
        (same validator and size); everything else is fetched again.
        """
        from model_fetch.transfer._parallel import Coverage  # noqa: PLC0415

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
        check_cancelled(self.cancel)
        if self._writer is None:  # pragma: no cover - every attempt begins before its body
            raise RuntimeError("write before begin")
        size = len(data)
        self._reserve(self.position + size)
        self._writer.put(data, write=not already_written)
        self.position += size
        self._on_position(self.position)
        if self._stall.stalled(size):
            raise _Retryable(self._stall.reason)

    def finish(self) -> None:
        """Wait until every received byte is hashed and written; raise a writer error."""
        if self._writer is not None:
            self._writer.close()

    def abandon(self) -> None:
        """Stop the writer after a failed attempt, ignoring what it failed with."""
        if self._writer is not None:
            with contextlib.suppress(BaseException):
                self._writer.close()


class Transfer:
    """Fetches remote files into local paths with retries, hashing and progress.

    Args:
        http: The shared HTTP client.
        clock: The clock used for backoff and the stall guard.
        rng: The random source for backoff jitter.
    """

    def __init__(self, http: HttpClient, clock: Clock, rng: random.Random | None = None) -> None:
        """Create the engine."""
        self._http = http
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def fetch(
        self,
        remote: RemoteFile,
        dest: str,
        options: DownloadOptions,
        *,
        on_size: Callable[[int], None],
        on_position: Callable[[int], None],
        reserve: Callable[[int], None],
        cancel: threading.Event | None = None,
        policy: UrlPolicy | None = None,
        partial: PartialFile | None = None,
    ) -> FetchOutcome:
        """Fetch ``remote`` into the local file ``dest`` (created or truncated).

        Args:
            remote: The file to fetch.
            dest: A local path in the staging area.
            options: Timeout, retries, TLS verification and chunk size.
            on_size: Called with the file's size once the server tells it.
            on_position: Called with the bytes written so far in the current attempt.
            reserve: Called with the bytes about to be held; raises InsufficientStorage when
                a quota or the disk cannot hold them.
            cancel: When set, the transfer stops with DownloadCancelled at the next buffer.
            policy: For URLs from untrusted requests: only http(s), every hop checked after
                DNS resolution (see :class:`UrlPolicy`).
            partial: Where to keep a resumable partial download (http(s) only). The download
                resumes from it when its sidecar allows, and it is moved to ``dest`` when done.

        Returns:
            The size and digests of the bytes written.

        Raises:
            DownloadFailed: The retries ran out, or a failure that is not worth retrying.
            ModelNotFound: The server answered 404 or 410, or the file does not exist.
            InsufficientStorage: The disk or the quota filled up.
        """
        url = redact_url(remote.url)
        if policy is not None:
            policy.check(remote.url, resolve=False)
        path = partial.path if partial is not None else dest
        resume = _resume_point(partial, url)
        attempt = 0
        parallel = True  # until the server breaks the range rules: then one stream
        fruitless = 0  # failures since the last attempt that got further than any before
        furthest = resume.completed if resume is not None else 0
        while True:
            attempt += 1
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            sink = _Sink(
                fd,
                remote,
                clock=self._clock,
                timeout=float(options.timeout),
                on_position=on_position,
                reserve=reserve,
                cancel=cancel,
                partial=partial,
            )
            try:
                try:
                    self._attempt(
                        remote,
                        sink,
                        options,
                        on_size=on_size,
                        policy=policy,
                        resume=resume,
                        parallel=parallel,
                    )
                except BaseException:
                    sink.abandon()
                    raise
                sink.finish()
                os.fsync(fd)
            except _Retryable as exc:
                check_cancelled(cancel)
                parallel = parallel and not (sink.parallel and exc.restart)
                resume = _next_resume(exc, sink, resume)
                if resume is None and partial is not None:
                    partial.forget()  # the sidecar must not outlive the bytes it describes
                if sink.position > furthest:  # a retry that made progress resets the budget
                    furthest, fruitless = sink.position, 0
                fruitless += 1
                if fruitless > options.retry_count:
                    sink.keep()
                    raise DownloadFailed(
                        f"Download failed after {attempt} attempt{'s' * (attempt > 1)}: "
                        f"{exc.reason} ({url})",
                        url=url,
                        attempts=attempt,
                        bytes_received=sink.position,
                    ) from exc
                delay = backoff_delay(fruitless, exc.retry_after, self._rng)
                log.info(
                    "Attempt %d for %s failed (%s); retrying in %.1f s",
                    attempt,
                    url,
                    exc.reason,
                    delay,
                )
                self._clock.sleep(delay)
                continue
            except BaseException:
                sink.keep()  # Ctrl-C, a crash of ours, a cancel: what is on disk stays resumable
                raise
            finally:
                os.close(fd)
            if partial is not None:
                os.replace(partial.path, dest)
                partial.forget()
            return FetchOutcome(
                size=sink.position,
                sha256=sink.sha256.hexdigest(),
                digests={name: hasher.hexdigest() for name, hasher in sink.hashers.items()},
                attempts=attempt,
            )

    def _attempt(
        self,
        remote: RemoteFile,
        sink: _Sink,
        options: DownloadOptions,
        *,
        on_size: Callable[[int], None],
        policy: UrlPolicy | None,
        resume: ResumeState | None,
        parallel: bool,
    ) -> None:
        scheme = remote.url.partition("://")[0].lower()
        if scheme in {"http", "https"}:
            self._attempt_http(
                remote,
                sink,
                options,
                on_size=on_size,
                policy=policy,
                resume=resume,
                parallel=parallel,
            )
        else:
            self._attempt_fsspec(remote, sink, options, on_size)

    def _attempt_http(
        self,
        remote: RemoteFile,
        sink: _Sink,
        options: DownloadOptions,
        *,
        on_size: Callable[[int], None],
        policy: UrlPolicy | None,
        resume: ResumeState | None,
        parallel: bool = True,
    ) -> None:
        url = redact_url(remote.url)
        buffer_size = max(options.chunk_size, MIN_BUFFER)
        resume_with = _single_stream_resume(resume, options, parallel)
        headers, ranged = _request_headers(remote, resume_with)
        try:
            response = self._http.request(
                "GET",
                remote.url,
                headers=headers,
                timeout=float(options.timeout),
                verify=options.verify_ssl,
                policy=policy,
            )
        except urllib3.exceptions.SSLError as exc:
            raise DownloadFailed(f"TLS error for {url}: {exc}", url=url) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _Retryable(f"connection failed: {_reason(exc)}") from exc
        if parallel and _can_split(response, remote, options, ranged=ranged):
            self._parallel(
                remote,
                sink,
                options,
                headers=headers,
                response=response,
                policy=policy,
                on_size=on_size,
                resume=resume,
            )
            return
        complete = False
        try:
            length = _start_body(
                response, sink, remote, url, resume_with.completed if resume_with and ranged else 0
            )
            if sink.total is not None:
                on_size(sink.total)
            try:
                # A cancel shuts the socket, so even a read blocked on a silent server returns.
                with on_cancel(sink.cancel, response.shutdown):
                    while True:
                        data = response.read1(buffer_size)
                        if not data:
                            break
                        sink.write(data)
            except urllib3.exceptions.HTTPError as exc:
                raise _Retryable(
                    f"connection lost after {sink.position} bytes: {_reason(exc)}"
                ) from exc
            except (ConnectionError, TimeoutError) as exc:
                raise _Retryable(f"connection lost after {sink.position} bytes: {exc}") from exc
            if length is not None and sink.position - sink.started_at != length:
                raise _Retryable(f"connection closed after {sink.position} of {sink.total} bytes")
            complete = True
        finally:
            _finish(response, complete=complete)
        _check_size(remote, sink.position, url)

    def _parallel(
        self,
        remote: RemoteFile,
        sink: _Sink,
        options: DownloadOptions,
        *,
        headers: dict[str, str],
        response: urllib3.BaseHTTPResponse,
        policy: UrlPolicy | None,
        on_size: Callable[[int], None],
        resume: ResumeState | None,
    ) -> None:
        """Fetch a large file over several connections, hashing its prefix as it completes.

        A partial left by an earlier parallel attempt is kept only when the probe's validator
        and size are the ones it was written under.
        """
        from model_fetch.transfer._parallel import RangeFailed, fetch_ranges  # noqa: PLC0415

        url = redact_url(remote.url)
        total = int(response.headers["Content-Length"])
        validator = usable_validator(
            response.headers.get("ETag"), response.headers.get("Last-Modified")
        )
        _finish(response, complete=False)  # the probe's body is not read: ranges take over
        if validator is None:  # pragma: no cover - _can_split checked it
            raise _Retryable("no validator for ranged requests")
        same_file = resume is not None and (resume.validator, resume.size) == (validator, total)
        keep = resume.ranges if resume is not None and same_file else ()
        if keep:
            log.info("Resuming %s: %d bytes already on disk", url, sum(e - s for s, e in keep))
        on_size(total)
        coverage = sink.begin_parallel(validator=validator, total=total, keep=keep)
        try:
            fetch_ranges(
                http=self._http,
                url=remote.url,
                headers=headers,
                fd=sink.fd,
                size=total,
                validator=validator,
                connections=options.connections,
                timeout=float(options.timeout),
                verify=options.verify_ssl,
                policy=policy,
                cancel=sink.cancel,
                hashers=list(sink.hashers.values()),
                on_bytes=sink.advance,
                retries=options.retry_count,
                coverage=coverage,
                on_durable=sink.durable,
            )
        except RangeFailed as exc:
            raise _Retryable(
                f"parallel download failed: {exc.reason}", restart=exc.restart
            ) from exc
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise _no_space(exc, sink.position) from exc
            raise
        _check_size(remote, sink.position, url)

    def _attempt_fsspec(
        self,
        remote: RemoteFile,
        sink: _Sink,
        options: DownloadOptions,
        on_size: Callable[[int], None],
    ) -> None:
        import fsspec  # noqa: PLC0415 - fsspec's implementations load lazily

        url = redact_url(remote.url)
        buffer_size = max(options.chunk_size, MIN_BUFFER)
        try:
            fs, path = fsspec.core.url_to_fs(remote.url)
        except (ValueError, ImportError) as exc:
            raise DownloadFailed(f"Cannot open {url}: {exc}", url=url) from exc
        try:
            size = fs.size(path)
            sink.begin(0, validator=None, total=int(size) if size is not None else None)
            if size is not None:
                on_size(int(size))
            if _is_local(fs) and _reflink(path, sink.fd):
                # A copy-on-write clone: the bytes are hashed by reading the clone itself.
                with open(sink.fd, "rb", buffering=0, closefd=False) as clone:
                    while data := clone.read(buffer_size):
                        sink.write(data, already_written=True)
            else:
                with fs.open(path, "rb", block_size=buffer_size) as handle:
                    while data := handle.read(buffer_size):
                        sink.write(data)
        except FileNotFoundError as exc:
            raise ModelNotFound(f"Model file not found at {url}", model_name=None, url=url) from exc
        except (IsADirectoryError, PermissionError) as exc:
            raise DownloadFailed(f"Cannot read {url}: {exc}", url=url) from exc
        except ModelFetchError:
            raise
        except OSError as exc:
            raise _Retryable(f"read failed after {sink.position} bytes: {exc}") from exc
        _check_size(remote, sink.position, url)


def _finish(response: urllib3.BaseHTTPResponse, *, complete: bool) -> None:
    """Return a fully read connection to the pool; never reuse one with unread bytes.

    An error answer's short body is drained so its connection can be reused; anything else that
    was not read to the end (a failed or abandoned transfer) closes its connection, because a
    pooled connection with bytes left in it would feed them to the next request as a status line.
    """
    if complete:
        response.release_conn()
        return
    if response.status != 200:  # noqa: PLR2004 - error bodies are small and safe to drain
        try:
            response.drain_conn()
        except (urllib3.exceptions.HTTPError, OSError):
            response.close()
        response.release_conn()
        return
    # Closed first, then handed back: the pool keeps its slot and reconnects on next use.
    response.close()
    response.release_conn()


def _check_status(response: urllib3.BaseHTTPResponse, url: str) -> None:
    """Turn a non-200 answer into the right error: retry, not found, or a final failure."""
    status = response.status
    if status in (404, 410):
        raise ModelNotFound(
            f"Model file not found at {url} (HTTP {status})", model_name=None, url=url
        )
    if status in RETRY_STATUSES:
        raise _Retryable(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
    if status in (401, 403):
        raise DownloadFailed(
            f"Download failed: access denied (HTTP {status}) by {url}; check the credentials "
            "for that host (a token, ~/.netrc, or user:password in the URL)",
            url=url,
        )
    if status not in (200, 206):
        raise DownloadFailed(f"Download failed: HTTP {status} from {url}", url=url)


def _request_headers(remote: RemoteFile, resume: ResumeState | None) -> tuple[dict[str, str], bool]:
    """The headers of an attempt, with Range and If-Range when it resumes."""
    headers = dict(remote.headers)
    ranged = resume is not None and resume.completed > 0 and resume.validator is not None
    if resume is not None and ranged:
        headers["Range"] = f"bytes={resume.completed}-"
        headers["If-Range"] = str(resume.validator)
    return headers, ranged


def _can_split(
    response: urllib3.BaseHTTPResponse,
    remote: RemoteFile,
    options: DownloadOptions,
    *,
    ranged: bool,
) -> bool:
    """Whether a first answer allows a parallel ranged download of a large file."""
    length = response.headers.get("Content-Length", "")
    validator = usable_validator(
        response.headers.get("ETag"), response.headers.get("Last-Modified")
    )
    return (
        not ranged
        and options.connections > 1
        and response.status == 200  # noqa: PLR2004 - a plain, complete answer
        and response.headers.get("Accept-Ranges", "").lower() == "bytes"
        and length.isdigit()
        and int(length) >= options.parallel_min_size
        and remote.size in (None, int(length))
        and validator is not None
        and "gzip" not in response.headers.get("Content-Encoding", "").lower()
    )


def _single_stream_resume(
    resume: ResumeState | None, options: DownloadOptions, parallel: bool
) -> ResumeState | None:
    """The partial to resume with a Range request; None for a plain request.

    A partial with ranges beyond its prefix comes from a parallel attempt: when another
    parallel attempt may follow, a plain probe decides whether those ranges still hold.
    """
    if resume is None or (parallel and resume.ranges and options.connections > 1):
        return None
    return resume


def _resume_point(partial: PartialFile | None, url: str) -> ResumeState | None:
    """What a download resumes from: a usable partial's durable bytes, else None (byte 0)."""
    if partial is None:
        return None
    os.makedirs(partial.directory, exist_ok=True)
    state = partial.load()
    if state is not None:
        log.info("Resuming %s from byte %d", url, state.completed)
    return state


def _next_resume(exc: _Retryable, sink: _Sink, resume: ResumeState | None) -> ResumeState | None:
    """Where the next attempt starts after a retryable failure (None: from byte 0)."""
    if exc.restart:
        return None
    if not sink.begun:  # failed before any body: the last resume point still holds
        return resume
    return sink.keep()  # the next attempt, or a later call, resumes from here


def _start_body(
    response: urllib3.BaseHTTPResponse,
    sink: _Sink,
    remote: RemoteFile,
    url: str,
    asked_from: int,
) -> int | None:
    """Check the answer's status and range, begin the sink, and return the body's length."""
    if response.status == 416 and asked_from:  # noqa: PLR2004 - the kept prefix is unusable
        raise _Retryable("the server refused the resume range", restart=True)
    _check_status(response, url)
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    validator = usable_validator(
        response.headers.get("ETag"), response.headers.get("Last-Modified")
    )
    if response.status == 206:  # noqa: PLR2004 - Partial Content
        content_range = parse_content_range(response.headers.get("Content-Range"))
        if not asked_from or content_range is None or content_range.start != asked_from:
            # Never splice bytes that do not start where the kept prefix ends.
            raise _Retryable(
                f"the server answered a range that does not start at byte {asked_from}",
                restart=True,
            )
        total = content_range.total
        begin_at = asked_from
    else:
        total = length
        begin_at = 0  # a 200 to a resume means the file changed, or ranges are unsupported
    if remote.size is not None and total is not None and total != remote.size:
        raise DownloadFailed(
            f"Download failed: {url} is {total} bytes, expected {remote.size}",
            url=url,
        )
    sink.begin(begin_at, validator=validator, total=total)
    return length


def _is_local(fs: object) -> bool:
    from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415 - lazy like fsspec

    return isinstance(fs, LocalFileSystem)


#: ioctl number of FICLONE on Linux: clone a whole file, sharing blocks copy-on-write.
_FICLONE: Final = 0x40049409


def _reflink(source: str, dest_fd: int) -> bool:
    """Clone ``source`` into ``dest_fd`` where the filesystem can (btrfs, XFS); never a hard link.

    Returns False (and the caller copies) where cloning is not supported, which is most places.
    """
    if not sys.platform.startswith("linux"):
        return False
    import fcntl  # noqa: PLC0415 - POSIX only

    try:
        with open(source, "rb") as src:
            fcntl.ioctl(dest_fd, _FICLONE, src.fileno())
    except OSError:
        os.ftruncate(dest_fd, 0)
        return False
    return True


def _check_size(remote: RemoteFile, size: int, url: str) -> None:
    if remote.size is not None and size != remote.size:
        raise DownloadFailed(
            f"Download failed: received {size} bytes from {url}, expected {remote.size}",
            url=url,
            bytes_received=size,
        )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)
