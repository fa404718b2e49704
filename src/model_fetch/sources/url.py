"""The ``url`` source: one file at a direct URL (http, https, file, or any fsspec URL)."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from model_fetch._models import Plan, RemoteFile
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from model_fetch._models import DownloadRequest
    from model_fetch.sources import SourceContext

__all__ = ["UrlSource", "filename_from_url"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@,-]")


def filename_from_url(url: str, fallback: str) -> str:
    """Choose the installed file name: the URL path's last segment, made safe.

    The name is never taken from ``Content-Disposition``. Characters outside a conservative set
    become ``_``, and an empty or dot-only result falls back to ``fallback``.
    """
    path = urlsplit(url).path if "://" in url else url
    name = unquote(posixpath.basename(path.rstrip("/")))
    name = _UNSAFE.sub("_", name).lstrip(".")
    if not name:
        name = _UNSAFE.sub("_", fallback.replace("/", "--")).lstrip(".") or "model"
    return name[:128]


def check_url(url: str) -> str:
    """Check that a URL has a scheme and, for http(s), a host.

    Raises:
        InvalidRequest: The URL cannot be fetched.
    """
    if any(char in url for char in "\x00\r\n\t") or url != url.strip():
        raise InvalidRequest("download_url contains whitespace or control characters")
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.match(scheme):
        raise InvalidRequest("download_url must be an absolute URL such as https://host/model.pth")
    if scheme.lower() in {"http", "https"}:
        try:
            parts = urlsplit(url)
            _ = parts.port
        except ValueError as exc:
            raise InvalidRequest(f"download_url is not a valid URL: {exc}") from None
        if not parts.hostname:
            raise InvalidRequest("download_url has no host")
    return url


class UrlSource:
    """Plans a single file from ``download_url``, with the request's checksum.

    http and https go through the shared urllib3 client; ``file://`` and every other protocol
    fsspec knows go through fsspec.
    """

    def __init__(self, context: SourceContext) -> None:
        """Create the source.

        Args:
            context: The downloader's settings and HTTP client.
        """
        self._context = context

    def plan(self, request: DownloadRequest) -> Plan:
        """Plan the one file at ``request.download_url``.

        Raises:
            InvalidRequest: No URL was given, or it is malformed.
        """
        if not request.download_url:
            raise InvalidRequest("The 'url' source needs download_url")
        url = check_url(request.download_url)
        remote = RemoteFile(
            url=url,
            path=filename_from_url(url, request.model_name),
            size=None,
            checksums=request.checksum,
        )
        return Plan(files=(remote,), version=request.version, download_url=url, source="url")
