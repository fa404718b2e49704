"""The HTTP range reader: ``Range`` + ``If-Range`` requests answered with exactly that range.

See :mod:`._reader` for the protocol it implements and :mod:`._parallel` for its use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import urllib3

from model_fetch.transfer._http import error_reason
from model_fetch.transfer._ranges import RangeFailed, check_content_range
from model_fetch.transfer._retry import Retryable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._policy import UrlPolicy
    from model_fetch.transfer._reader import RangeStream

__all__ = ["HTTP_READ", "HttpRangeReader"]

#: The largest read from a socket at once (a buffer of this size per connection).
HTTP_READ: Final = 256 * 1024

_TRANSIENT: Final = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


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
