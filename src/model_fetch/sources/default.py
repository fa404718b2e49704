"""The ``default`` source: a model repository described by an index document.

The index lives at any http(s) or fsspec URL, or a path; configure it with
``MODEL_FETCH_REPOSITORY`` or ``Downloader(repository=...)``. Without one, the index that ships
with model_fetch is used: well-known public models at their published locations.

An http(s) index is cached beside the store and revalidated with ``If-None-Match``; when the
repository cannot be reached, the last good copy is used (and a warning logged).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from model_fetch._log import get_logger, redact_url
from model_fetch._models import Plan
from model_fetch.exceptions import DownloadFailed, InvalidRequest, ModelNotFound
from model_fetch.sources._index import RepositoryIndex, parse_index

if TYPE_CHECKING:
    from model_fetch._models import DownloadRequest
    from model_fetch.sources import SourceContext

__all__ = ["BUILTIN_INDEX", "RepositorySource"]

log = get_logger(__name__)

#: The location reported for the index that ships with the package.
BUILTIN_INDEX: Final = "builtin:model_fetch/sources/builtin_index.json"
_INDEX_TIMEOUT: Final = 30.0


class RepositorySource:
    """Resolves ``model_name`` and ``version`` through a repository index.

    ``latest`` resolves to the index's ``latest`` for the model. Unknown models and versions raise
    :class:`~model_fetch.ModelNotFound` with the contract's message.
    """

    def __init__(self, context: SourceContext) -> None:
        """Create the source.

        Args:
            context: The downloader's settings, HTTP client and cache directory.
        """
        self._context = context
        self.location = context.settings.repository or BUILTIN_INDEX
        self._lock = threading.Lock()
        self._parsed: tuple[bytes, RepositoryIndex] | None = None

    def plan(self, request: DownloadRequest) -> Plan:
        """Plan the files of ``request.model_name`` at ``request.version``.

        Raises:
            ModelNotFound: The index has no such model or version.
            DownloadFailed: The index cannot be read and no cached copy exists.
            InvalidRequest: The index is malformed.
        """
        index = self.index(timeout=float(request.options.timeout))
        model = index.models.get(request.model_name)
        if model is None:
            raise ModelNotFound(
                f"Model '{request.model_name}' not found in repository",
                model_name=request.model_name,
                version=request.version,
            )
        version = model.latest if request.version == "latest" else request.version
        entry = model.versions.get(version)
        if entry is None:
            raise ModelNotFound(
                f"Model '{request.model_name}' version '{version}' not found in repository",
                model_name=request.model_name,
                version=version,
            )
        shown = entry.files[0].url if len(entry.files) == 1 else redact_url(index.location)
        return Plan(files=entry.files, version=version, download_url=shown, source="default")

    def index(self, *, timeout: float = _INDEX_TIMEOUT) -> RepositoryIndex:
        """Return the parsed index, fetching or revalidating it as needed."""
        raw = self._read(timeout)
        with self._lock:
            if self._parsed is not None and self._parsed[0] == raw:
                return self._parsed[1]
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise InvalidRequest(
                f"Invalid repository index at {redact_url(self.location)}: not JSON ({exc})",
            ) from None
        parsed = parse_index(data, self.location)
        with self._lock:
            self._parsed = (raw, parsed)
        return parsed

    # -- reading ------------------------------------------------------------------------------
    def _read(self, timeout: float) -> bytes:
        if self.location == BUILTIN_INDEX:
            return (
                resources.files("model_fetch.sources").joinpath("builtin_index.json").read_bytes()
            )
        scheme = self.location.partition("://")[0].lower() if "://" in self.location else ""
        if scheme in {"http", "https"}:
            return self._read_http(timeout)
        return self._read_fsspec()

    def _cache_paths(self) -> tuple[str, str]:
        digest = hashlib.sha256(self.location.encode()).hexdigest()[:24]
        base = os.path.join(self._context.cache_dir, "indexes", digest)
        return base + ".json", base + ".etag"

    def _cached(self) -> tuple[bytes, str | None] | None:
        body_path, etag_path = self._cache_paths()
        try:
            with open(body_path, "rb") as handle:
                body = handle.read()
        except OSError:
            return None
        try:
            with open(etag_path, encoding="utf-8") as handle:
                etag: str | None = handle.read().strip() or None
        except OSError:
            etag = None
        return body, etag

    def _store_cache(self, body: bytes, etag: str | None) -> None:
        body_path, etag_path = self._cache_paths()
        os.makedirs(os.path.dirname(body_path), exist_ok=True)
        for path, content in ((body_path, body), (etag_path, (etag or "").encode())):
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)

    def _fallback(self, reason: str) -> bytes:
        cached = self._cached()
        if cached is None:
            raise DownloadFailed(
                f"Could not read the model repository index at {redact_url(self.location)}: "
                f"{reason}",
                url=redact_url(self.location),
            )
        log.warning(
            "Using the cached repository index: %s could not be read (%s)",
            redact_url(self.location),
            reason,
        )
        return cached[0]

    def _read_http(self, timeout: float) -> bytes:
        cached = self._cached()
        headers = {"Accept": "application/json"}
        if cached is not None and cached[1]:
            headers["If-None-Match"] = cached[1]
        import urllib3  # noqa: PLC0415 - loaded with the first request, so start-up stays light

        try:
            response = self._context.http.request(
                "GET",
                self.location,
                headers=headers,
                timeout=min(timeout, _INDEX_TIMEOUT),
            )
        except (urllib3.exceptions.HTTPError, DownloadFailed) as exc:
            return self._fallback(str(getattr(exc, "reason", None) or exc))
        try:
            if response.status == 304 and cached is not None:  # noqa: PLR2004 - Not Modified
                return cached[0]
            if response.status != 200:  # noqa: PLR2004 - anything else is a failure
                return self._fallback(f"HTTP {response.status}")
            body = response.read()
        except urllib3.exceptions.HTTPError as exc:
            return self._fallback(str(exc))
        finally:
            response.release_conn()
        self._store_cache(body, response.headers.get("ETag"))
        return body

    def _read_fsspec(self) -> bytes:
        import fsspec  # noqa: PLC0415 - fsspec's implementations load lazily

        try:
            with fsspec.open(self.location, "rb") as handle:
                body: Any = handle.read()
        except FileNotFoundError:
            return self._fallback("no such file")
        except (OSError, ValueError, ImportError) as exc:
            return self._fallback(str(exc))
        data = bytes(body)
        self._store_cache(data, None)
        return data
