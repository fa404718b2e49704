"""Range readers: read bytes ``[start, end)`` of a remote object as a stream.

The parallel engine (:mod:`._parallel`) fetches a file's segments through a :class:`RangeReader`
and does not care where they come from: :class:`HttpRangeReader` sends ``Range`` + ``If-Range``
and accepts only a ``206`` that :func:`._ranges.check_content_range` approves;
:class:`FsspecRangeReader` reads an object on any fsspec filesystem (the fleet mirror's bucket).

A stream raises :class:`._retry.Retryable` for a failure worth repeating (a connection lost),
:class:`._ranges.RangeFailed` when the answer breaks the range rules, and anything else as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

import urllib3

from model_fetch.transfer._http import error_reason
from model_fetch.transfer._ranges import RangeFailed, check_content_range
from model_fetch.transfer._retry import Retryable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._policy import UrlPolicy

__all__ = [
    "FsspecRangeReader",
    "HttpRangeReader",
    "RangeReader",
    "RangeStream",
]

#: The largest read from a socket at once (a buffer of this size per connection).
HTTP_READ: Final = 256 * 1024
#: The largest read from an object store at once: one request, held in memory until written.
FSSPEC_BLOCK: Final = 8 * 2**20

_TRANSIENT: Final = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


class RangeStream(Protocol):
    """The bytes of one range, read in order."""

    def read(self, limit: int) -> bytes:
        """Return the next bytes, at most ``limit`` of them; ``b""`` at the end of the range."""
        ...

    def shutdown(self) -> None:
        """Make a read blocked in another thread return (a cancel); safe to call any time."""
        ...

    def release(self, *, complete: bool) -> None:
        """Let go of the stream; ``complete`` when every byte of the range was read."""
        ...


class RangeReader(Protocol):
    """Opens ranges of one remote object."""

    def open(self, start: int, end: int) -> RangeStream:
        """Open the bytes ``[start, end)``.

        Raises:
            Retryable: The request failed in a way that may pass.
            RangeFailed: The answer is not exactly that range (``restart``: ranges cannot be
                trusted at all).
        """
        ...


class _HttpStream:
    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def read(self, limit: int) -> bytes:
        try:
            return self._response.read1(min(HTTP_READ, limit))
        except _TRANSIENT as exc:
            raise Retryable(error_reason(exc)) from exc

    def shutdown(self) -> None:
        self._response.shutdown()

    def release(self, *, complete: bool) -> None:
        if not complete:  # bytes left unread: the connection cannot be reused
            self._response.close()
        self._response.release_conn()


class HttpRangeReader:
    """Ranges of one http(s) URL, each guarded by ``If-Range`` with the file's validator.

    Args:
        http: The HTTP client.
        url: The file's URL.
        headers: Headers for every request (Range and If-Range are added).
        validator: The If-Range validator of the file's first answer.
        size: The file's size (a Content-Range must name it, or ``*``).
        timeout: Connect and read timeout of each request.
        verify: Whether to verify TLS certificates.
        policy: The URL policy for untrusted requests.
    """

    def __init__(
        self,
        http: HttpClient,
        url: str,
        *,
        headers: Mapping[str, str],
        validator: str,
        size: int,
        timeout: float,
        verify: bool,
        policy: UrlPolicy | None,
    ) -> None:
        """Keep the settings; nothing is sent until a range is opened."""
        self._http = http
        self._url = url
        self._headers = dict(headers)
        self._validator = validator
        self._size = size
        self._timeout = timeout
        self._verify = verify
        self._policy = policy

    def open(self, start: int, end: int) -> RangeStream:
        """Request ``[start, end)``; accept only a ``206`` of exactly that range."""
        sent = {**self._headers, "Range": f"bytes={start}-{end - 1}", "If-Range": self._validator}
        try:
            response = self._http.request(
                "GET",
                self._url,
                headers=sent,
                timeout=self._timeout,
                verify=self._verify,
                policy=self._policy,
            )
        except _TRANSIENT as exc:
            raise Retryable(error_reason(exc)) from exc
        stream = _HttpStream(response)
        if response.status != 206:  # noqa: PLR2004 - only Partial Content can be placed
            stream.release(complete=False)
            raise RangeFailed(f"HTTP {response.status} to a range request", restart=True)
        content_range = response.headers.get("Content-Range")
        if check_content_range(content_range, start=start, end=end, size=self._size) is None:
            stream.release(complete=False)
            raise RangeFailed("the server answered another range than asked", restart=True)
        return stream


class _FsspecStream:
    def __init__(self, fs: Any, path: str, start: int, end: int, block: int) -> None:
        self._fs = fs
        self._path = path
        self._position = start
        self._end = end
        self._block = block

    def read(self, limit: int) -> bytes:
        size = min(self._block, limit, self._end - self._position)
        if size <= 0:
            return b""
        # The filesystem retries its own requests; what still fails is not retried here.
        data: bytes = self._fs.cat_file(self._path, start=self._position, end=self._position + size)
        if len(data) != size:  # an object store answers a range whole, or the object changed
            raise RangeFailed(f"{self._path}: short read at byte {self._position}")
        self._position += size
        return data

    def shutdown(self) -> None:
        """A read in flight finishes; the next one sees the cancel."""

    def release(self, *, complete: bool) -> None:
        """Nothing is held between reads."""


class FsspecRangeReader:
    """Ranges of one object on an fsspec filesystem, each read as ``cat_file`` blocks.

    Args:
        fs: The filesystem.
        path: The object's path on it.
        block: The largest read at once (one request; memory held per stream).
    """

    def __init__(self, fs: Any, path: str, *, block: int = FSSPEC_BLOCK) -> None:
        """Keep the object's name; nothing is read until a range is opened."""
        self._fs = fs
        self._path = path
        self._block = block

    def open(self, start: int, end: int) -> RangeStream:
        """Open ``[start, end)``; the first read sends the first request."""
        return _FsspecStream(self._fs, self._path, start, end, self._block)
