"""An example model_fetch source: a plain mirror with ``.sha256`` sidecar files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import fsspec
import urllib3

from model_fetch import InvalidRequest, ModelNotFound, Plan, RemoteFile

if TYPE_CHECKING:
    from model_fetch import DownloadRequest, SourceContext

__all__ = ["MirrorSource"]


class MirrorSource:
    """Plans ``<base>/<name>/<version>.bin``, verified against its ``.sha256`` sidecar.

    The base comes from ``MIRROR_SOURCE_URL``: an http(s) URL (fetched with model_fetch's shared
    client, so proxies, CA bundles and redirects behave as for any download) or any fsspec URL.
    """

    def __init__(self, context: SourceContext) -> None:
        """Keep the context; read the base URL at call time."""
        self._context = context

    def _read_text(self, url: str, timeout: float) -> str | None:
        if url.startswith(("http://", "https://")):
            response = self._context.http.request("GET", url, timeout=timeout)
            try:
                if response.status == 404:  # noqa: PLR2004
                    return None
                if response.status != 200:  # noqa: PLR2004
                    raise InvalidRequest(f"mirror answered HTTP {response.status} for {url}")
                return response.read().decode()
            except urllib3.exceptions.HTTPError as exc:
                raise InvalidRequest(f"mirror unreachable: {exc}") from exc
            finally:
                response.release_conn()
        try:
            with fsspec.open(url, "rt") as handle:
                return str(handle.read())
        except FileNotFoundError:
            return None

    def plan(self, request: DownloadRequest) -> Plan:
        """Resolve ``latest`` through ``LATEST`` and plan the one file with its sha256."""
        base = os.environ.get("MIRROR_SOURCE_URL", "").rstrip("/")
        if not base:
            raise InvalidRequest("Set MIRROR_SOURCE_URL to use the 'mirror' source")
        timeout = float(request.options.timeout)
        name, version = request.model_name, request.version
        if version == "latest":
            latest = self._read_text(f"{base}/{name}/LATEST", timeout)
            if latest is None:
                raise ModelNotFound(f"Model '{name}' not found in repository", model_name=name)
            version = latest.strip()
        url = f"{base}/{name}/{version}.bin"
        sidecar = self._read_text(f"{url}.sha256", timeout)
        if sidecar is None:
            raise ModelNotFound(
                f"Model '{name}' version '{version}' not found in repository",
                model_name=name,
                version=version,
            )
        digest = sidecar.split()[0] if sidecar.split() else ""
        return Plan(
            files=[RemoteFile(url=url, path=f"{name.split('/')[-1]}.bin", checksums=digest)],
            version=version,
            download_url=url,
            source="mirror",
        )
