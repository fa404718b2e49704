"""One attempt at an http(s) file: one stream, or a probe that hands over to parallel ranges.

The attempt sends a plain request, or ``Range`` + ``If-Range`` when it resumes a partial (see
:mod:`._resume` for what the answer means). A plain ``200`` of a large file on a server with
ranges and a validator becomes the probe of a parallel download (see :mod:`._parallel`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import urllib3

from model_fetch._cancel import on_cancel
from model_fetch._log import get_logger, redact_url
from model_fetch.exceptions import DownloadFailed, ModelNotFound
from model_fetch.transfer._http import error_reason
from model_fetch.transfer._http_reader import HttpRangeReader
from model_fetch.transfer._outcome import check_size
from model_fetch.transfer._parallel import fetch_ranges
from model_fetch.transfer._ranges import RangeFailed
from model_fetch.transfer._resume import (
    Answer,
    Ask,
    Body,
    Restart,
    ResumeState,
    decide,
    resume_request,
    reusable_ranges,
)
from model_fetch.transfer._retry import RETRY_STATUSES, Retryable, parse_retry_after
from model_fetch.transfer._writer import NO_SPACE, no_space

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._models import DownloadOptions, RemoteFile
    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._policy import UrlPolicy
    from model_fetch.transfer._sink import Sink

__all__ = ["attempt_http"]

log = get_logger(__name__)


def attempt_http(
    http: HttpClient,
    remote: RemoteFile,
    sink: Sink,
    options: DownloadOptions,
    *,
    buffer_size: int,
    on_size: Callable[[int], None],
    policy: UrlPolicy | None,
    resume: ResumeState | None,
    parallel: bool,
) -> None:
    """Fetch ``remote`` into the sink over one request, or over parallel ranges.

    Raises:
        Retryable: A failure that may pass (its ``restart`` says whether the partial holds).
        ModelNotFound: HTTP 404 or 410.
        DownloadFailed: A failure that retrying cannot help.
    """
    url = redact_url(remote.url)
    ask = resume_request(resume, may_split=parallel and options.connections > 1)
    headers = {**remote.headers, **(ask.headers() if ask is not None else {})}
    try:
        response = http.request(
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
        raise Retryable(f"connection failed: {error_reason(exc)}") from exc
    if parallel and ask is None and _can_split(response, remote, options):
        _parallel(
            http,
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
        _read_body(response, sink, remote, ask, buffer_size=buffer_size, on_size=on_size)
        complete = True
    finally:
        _finish(response, complete=complete)
    check_size(remote, sink.position, url)


def _read_body(
    response: urllib3.BaseHTTPResponse,
    sink: Sink,
    remote: RemoteFile,
    ask: Ask | None,
    *,
    buffer_size: int,
    on_size: Callable[[int], None],
) -> None:
    """Read a single-stream answer into the sink; raise Retryable unless the file is whole."""
    length = _start_body(response, sink, remote, redact_url(remote.url), ask)
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
        raise Retryable(
            f"connection lost after {sink.position} bytes: {error_reason(exc)}"
        ) from exc
    except (ConnectionError, TimeoutError) as exc:
        raise Retryable(f"connection lost after {sink.position} bytes: {exc}") from exc
    if length is not None and sink.position - sink.started_at != length:
        raise Retryable(f"connection closed after {sink.position} of {sink.total} bytes")
    if sink.total is not None and sink.position != sink.total:
        # A shorter range than asked (some servers cap them) is kept and continued; bytes
        # past the file's declared end cannot be trusted at all.
        raise Retryable(
            f"the answer ended at byte {sink.position} of {sink.total}",
            restart=sink.position > sink.total,
        )


def _parallel(
    http: HttpClient,
    remote: RemoteFile,
    sink: Sink,
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
    url = redact_url(remote.url)
    total = int(response.headers["Content-Length"])
    validator = Answer.of(response.status, response.headers).validator
    _finish(response, complete=False)  # the probe's body is not read: ranges take over
    if validator is None:  # pragma: no cover - _can_split checked it
        raise Retryable("no validator for ranged requests")
    keep = reusable_ranges(resume, validator=validator, size=total)
    if keep:
        log.info("Resuming %s: %d bytes already on disk", url, sum(e - s for s, e in keep))
    on_size(total)
    coverage = sink.begin_parallel(validator=validator, total=total, keep=keep)
    reader = HttpRangeReader(
        http,
        remote.url,
        headers=headers,
        validator=validator,
        size=total,
        timeout=float(options.timeout),
        verify=options.verify_ssl,
        policy=policy,
    )
    try:
        fetch_ranges(
            reader=reader,
            fd=sink.fd,
            size=total,
            connections=options.connections,
            timeout=float(options.timeout),
            cancel=sink.cancel,
            hashers=list(sink.hashers.values()),
            on_bytes=sink.advance,
            retries=options.retry_count,
            coverage=coverage,
            on_durable=sink.durable,
        )
    except RangeFailed as exc:
        raise Retryable(f"parallel download failed: {exc.reason}", restart=exc.restart) from exc
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise no_space(exc, sink.position) from exc
        raise
    check_size(remote, sink.position, url)


def _start_body(
    response: urllib3.BaseHTTPResponse,
    sink: Sink,
    remote: RemoteFile,
    url: str,
    ask: Ask | None,
) -> int | None:
    """Decide what the answer means, begin the sink there, and return the body's length."""
    decision = decide(ask, Answer.of(response.status, response.headers), expected_size=remote.size)
    if decision is None:
        _raise_for_status(response, url)
    if isinstance(decision, Restart):
        raise Retryable(decision.reason, restart=True)
    if not isinstance(decision, Body):
        raise DownloadFailed(
            f"Download failed: {url} is {decision.total} bytes, expected {decision.expected}",
            url=url,
        )
    sink.begin(decision.start, validator=decision.validator, total=decision.total)
    return decision.length


def _raise_for_status(response: urllib3.BaseHTTPResponse, url: str) -> NoReturn:
    """Turn an answer without a usable body into the right error: retry, not found, or final."""
    status = response.status
    if status in (404, 410):
        raise ModelNotFound(
            f"Model file not found at {url} (HTTP {status})", model_name=None, url=url
        )
    if status in RETRY_STATUSES:
        raise Retryable(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
    if status in (401, 403):
        raise DownloadFailed(
            f"Download failed: access denied (HTTP {status}) by {url}; check the credentials "
            "for that host (a token, ~/.netrc, or user:password in the URL)",
            url=url,
        )
    raise DownloadFailed(f"Download failed: HTTP {status} from {url}", url=url)


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


def _can_split(
    response: urllib3.BaseHTTPResponse,
    remote: RemoteFile,
    options: DownloadOptions,
) -> bool:
    """Whether a plain first answer allows a parallel ranged download of a large file."""
    length = response.headers.get("Content-Length", "")
    return (
        options.connections > 1
        and response.status == 200  # noqa: PLR2004 - a plain, complete answer
        and response.headers.get("Accept-Ranges", "").lower() == "bytes"
        and length.isdigit()
        and int(length) >= options.parallel_min_size
        and remote.size in (None, int(length))
        and Answer.of(response.status, response.headers).validator is not None
        and "gzip" not in response.headers.get("Content-Encoding", "").lower()
    )
