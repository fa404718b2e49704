"""The transfer engine: fetch one file into a local staging path, hashing as bytes arrive.

Each attempt streams the body with ``Accept-Encoding: identity`` into an unbuffered file and
feeds every buffer to the hashers before writing it, so the digest is of exactly the bytes stored.
Failures that may pass (connection errors, timeouts, stalls, 5xx, 429) are retried with backoff
by :func:`._retry.run_with_retries`; the rest fail at once. The file is fsynced before the engine
returns.

- :mod:`._http_attempt`: one http(s) attempt (one stream, or a probe and parallel ranges).
- :mod:`._fsspec`: one attempt on any other fsspec URL.
- :mod:`._sink`, :mod:`._writer`: where an attempt's bytes go.
- :mod:`._resume`, :mod:`._partial`: the resume decision and the partial file it is about.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Final

import attrs

from model_fetch._cancel import check_cancelled
from model_fetch._log import get_logger, redact_url
from model_fetch.exceptions import DownloadFailed
from model_fetch.transfer._flow import STALL_MIN_BYTES, DeadlinePassed, Pace
from model_fetch.transfer._outcome import FetchOutcome

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from model_fetch._clock import Clock
    from model_fetch._models import DownloadOptions, RemoteFile
    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._partial import PartialFile
    from model_fetch.transfer._policy import UrlPolicy
    from model_fetch.transfer._resume import ResumeState
    from model_fetch.transfer._retry import Retry, Retryable
    from model_fetch.transfer._sink import Sink

__all__ = ["MIN_BUFFER", "STALL_MIN_BYTES", "FetchOutcome", "Transfer"]

log = get_logger(__name__)

#: Reads use buffers of at least this size; smaller writes cost more than they save.
MIN_BUFFER: Final = 256 * 1024


class Transfer:
    """Fetches remote files into local paths with retries, hashing and progress.

    Args:
        http: The shared HTTP client.
        clock: The clock used for backoff and the stall guard.
        rng: The random source for backoff jitter.
        max_unknown_size: The most bytes a file of unknown size may have (None: no limit).
    """

    def __init__(
        self,
        http: HttpClient,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        max_unknown_size: int | None = None,
    ) -> None:
        """Create the engine."""
        self._http = http
        self._clock = clock
        self._max_unknown_size = max_unknown_size
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
        # The retry loop, the sink and its writer load with the first fetch: building the
        # engine (a pipeline does, for a cache hit too) costs nothing.
        from model_fetch.transfer._retry import Retry, run_with_retries  # noqa: PLC0415

        url = redact_url(remote.url)
        if policy is not None:
            policy.check(remote.url, resolve=False)
        path = partial.path if partial is not None else dest
        resume = _resume_point(partial, url)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            attempts = _Attempts(
                http=self._http,
                clock=self._clock,
                remote=remote,
                options=options,
                fd=fd,
                on_size=on_size,
                on_position=on_position,
                reserve=reserve,
                cancel=cancel,
                policy=policy,
                partial=partial,
                resume=resume,
                deadline_at=self._clock.monotonic() + float(options.deadline),
                max_unknown_size=self._max_unknown_size if remote.size is None else None,
            )
            outcome = run_with_retries(
                attempts.run,
                Retry(
                    retries=options.retry_count,
                    furthest=resume.completed if resume is not None else 0,
                ),
                reached=attempts.reached,
                give_up=attempts.give_up,
                clock=self._clock,
                rng=self._rng,
                label=url,
            )
        except BaseException:
            os.close(fd)
            if partial is not None and partial.load() is None:
                # Nothing a later call could resume (no validator, no bytes, or a sidecar
                # that does not fit): a partial kept now would only hold disk space.
                partial.discard()
            raise
        os.close(fd)
        if partial is not None:
            os.replace(partial.path, dest)
            partial.forget()
        return outcome


@attrs.define(kw_only=True)
class _Attempts:
    """One :meth:`Transfer.fetch` call's attempts, and what each one leaves to the next."""

    http: HttpClient
    clock: Clock
    remote: RemoteFile
    options: DownloadOptions
    fd: int
    on_size: Callable[[int], None]
    on_position: Callable[[int], None]
    reserve: Callable[[int], None]
    cancel: threading.Event | None
    policy: UrlPolicy | None
    partial: PartialFile | None
    #: Where the next attempt resumes (None: from byte 0).
    resume: ResumeState | None
    #: The clock reading after which the file fails (``options.deadline`` from the first try).
    deadline_at: float
    #: The most bytes the file may have when its size is unknown (None: no limit).
    max_unknown_size: int | None
    #: Until the server breaks the range rules: then one stream.
    parallel: bool = True
    count: int = 0
    sink: Sink | None = None

    def run(self) -> FetchOutcome:
        """Make one attempt; raise Retryable (after recording where the next one starts)."""
        from model_fetch.transfer._retry import Retryable  # noqa: PLC0415 - see fetch
        from model_fetch.transfer._sink import Sink  # noqa: PLC0415

        pace = Pace(
            deadline_at=self.deadline_at,
            min_rate=self.options.min_rate,
            monotonic=self.clock.monotonic,
        )
        if pace.passed():
            raise self._deadline_failure()
        self.count += 1
        sink = self.sink = Sink(
            self.fd,
            self.remote,
            clock=self.clock,
            timeout=float(self.options.timeout),
            pace=pace,
            max_unknown_size=self.max_unknown_size,
            on_position=self.on_position,
            reserve=self.reserve,
            cancel=self.cancel,
            partial=self.partial,
        )
        try:
            try:
                self._attempt(sink)
            except BaseException:
                sink.abandon()
                raise
            sink.finish()
            os.fsync(self.fd)
        except Retryable as exc:
            check_cancelled(self.cancel)
            self.parallel = self.parallel and not (sink.parallel and exc.restart)
            self.resume = _next_resume(exc, sink, self.resume)
            if self.resume is None and self.partial is not None:
                self.partial.forget()  # the sidecar must not outlive the bytes it describes
            raise
        except DeadlinePassed:
            sink.keep()
            raise self._deadline_failure() from None
        except BaseException:
            sink.keep()  # Ctrl-C, a crash of ours, a cancel: what is on disk stays resumable
            raise
        return FetchOutcome.of(sink.hashers, size=sink.position, attempts=self.count)

    def _attempt(self, sink: Sink) -> None:
        remote, options = self.remote, self.options
        buffer_size = max(options.chunk_size, MIN_BUFFER)
        if remote.url.partition("://")[0].lower() in {"http", "https"}:
            # urllib3 loads with the first request, not with the engine.
            from model_fetch.transfer._http_attempt import attempt_http  # noqa: PLC0415

            attempt_http(
                self.http,
                remote,
                sink,
                options,
                buffer_size=buffer_size,
                on_size=self.on_size,
                policy=self.policy,
                resume=self.resume,
                parallel=self.parallel,
            )
        else:
            from model_fetch.transfer._fsspec import attempt_fsspec  # noqa: PLC0415

            attempt_fsspec(remote, sink, buffer_size=buffer_size, on_size=self.on_size)

    def _deadline_failure(self) -> DownloadFailed:
        url = redact_url(self.remote.url)
        return DownloadFailed(
            f"Download failed: {url} did not finish within its deadline of "
            f"{float(self.options.deadline):g} s (options.deadline)",
            url=url,
            attempts=self.count,
            bytes_received=self.reached(),
        )

    def reached(self) -> int:
        """How far the last attempt got."""
        return self.sink.position if self.sink is not None else 0

    def give_up(self, exc: Retryable, _retry: Retry) -> BaseException:
        """Keep what is on disk for a later call, and say how many attempts failed."""
        if self.sink is not None:
            self.sink.keep()
        url = redact_url(self.remote.url)
        attempts = self.count
        return DownloadFailed(
            f"Download failed after {attempts} attempt{'s' * (attempts > 1)}: {exc.reason} ({url})",
            url=url,
            attempts=attempts,
            bytes_received=self.reached(),
        )


def _resume_point(partial: PartialFile | None, url: str) -> ResumeState | None:
    """What a download resumes from: a usable partial's durable bytes, else None (byte 0)."""
    if partial is None:
        return None
    os.makedirs(partial.directory, exist_ok=True)
    state = partial.load()
    if state is not None:
        log.info("Resuming %s from byte %d", url, state.completed)
    return state


def _next_resume(exc: Retryable, sink: Sink, resume: ResumeState | None) -> ResumeState | None:
    """Where the next attempt starts after a retryable failure (None: from byte 0)."""
    if exc.restart:
        return None
    if not sink.begun:  # failed before any body: the last resume point still holds
        return resume
    return sink.keep()  # the next attempt, or a later call, resumes from here
