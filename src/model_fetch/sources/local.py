"""The ``local`` source: a registry directory (or fsspec path) laid out as ``<name>/<version>/``.

Configure it with ``MODEL_FETCH_LOCAL_REGISTRY`` or ``Downloader(local_registry=...)``. A name may
be ``org/name`` (two directory levels). ``latest`` is the highest version in natural order, so
``v10`` > ``v9`` > ``v2``. Every file under the version directory is part of the model, except an
optional ``SHA256SUMS`` file (``sha256sum`` format), whose digests are then verified. Sizes are
always verified.

Copies go through the transfer engine like any download and are hashed as they are written. On a
local filesystem the engine first tries a copy-on-write clone (reflink), never a hard link: a later
edit in the registry must not change an installed, verified model.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from model_fetch._log import get_logger
from model_fetch._models import Plan, RemoteFile
from model_fetch.checksums import Checksum
from model_fetch.exceptions import InvalidRequest, ModelNotFound

if TYPE_CHECKING:
    from model_fetch._models import DownloadRequest
    from model_fetch.sources import SourceContext

__all__ = ["SUMS_FILE", "LocalRegistrySource", "natural_key"]

log = get_logger(__name__)

SUMS_FILE: Final = "SHA256SUMS"
_DIGITS = re.compile(r"(\d+)")
_SUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def natural_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for natural version order: ``v2`` < ``v9`` < ``v10`` < ``v10.1``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in _DIGITS.split(version)
        if part
    )


class LocalRegistrySource:
    """Plans the files of ``<registry>/<name>/<version>/``."""

    def __init__(self, context: SourceContext) -> None:
        """Create the source.

        Args:
            context: The downloader's settings (which name the registry).
        """
        self._context = context
        self.root = context.settings.local_registry

    def _fs(self) -> tuple[Any, str]:
        import fsspec  # noqa: PLC0415 - fsspec's implementations load lazily

        if not self.root:
            raise InvalidRequest(
                "The 'local' source needs a registry: set MODEL_FETCH_LOCAL_REGISTRY or pass "
                "Downloader(local_registry=...)",
            )
        fs, path = fsspec.core.url_to_fs(self.root)
        return fs, path.rstrip("/")

    def versions(self, name: str) -> list[str]:
        """The versions of a model in the registry, in natural order."""
        fs, root = self._fs()
        try:
            entries = fs.ls(f"{root}/{name}", detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = [
            entry["name"].rstrip("/").rsplit("/", 1)[-1]
            for entry in entries
            if entry.get("type") == "directory"
        ]
        return sorted(found, key=natural_key)

    def plan(self, request: DownloadRequest) -> Plan:
        """Plan every file of the version (``latest``: the highest in natural order).

        Raises:
            ModelNotFound: No such model or version in the registry.
            InvalidRequest: No registry is configured.
        """
        fs, root = self._fs()
        name = request.model_name
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(
                f"Model '{name}' not found in repository",
                model_name=name,
                version=request.version,
            )
        version = versions[-1] if request.version == "latest" else request.version
        if version not in versions:
            raise ModelNotFound(
                f"Model '{name}' version '{version}' not found in repository",
                model_name=name,
                version=version,
            )
        base = f"{root}/{name}/{version}"
        listing = fs.find(base, detail=True)
        sums = self._sums(fs, f"{base}/{SUMS_FILE}") if f"{base}/{SUMS_FILE}" in listing else {}
        files = []
        for path, info in sorted(listing.items()):
            rel = path[len(base) + 1 :]
            if rel == SUMS_FILE or info.get("type") != "file":
                continue
            digest = sums.get(rel)
            files.append(
                RemoteFile(
                    url=fs.unstrip_protocol(path),
                    path=rel,
                    size=int(info["size"]),
                    checksums=(Checksum("sha256", digest),) if digest else (),
                ),
            )
        if not files:
            raise ModelNotFound(
                f"Model '{name}' version '{version}' has no files in the registry",
                model_name=name,
                version=version,
            )
        return Plan(
            files=files,
            version=version,
            download_url=fs.unstrip_protocol(base),
            source="local",
        )

    @staticmethod
    def _sums(fs: Any, path: str) -> dict[str, str]:
        sums: dict[str, str] = {}
        text = fs.cat_file(path).decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            match = _SUM_LINE.match(line.strip())
            if not match:
                raise InvalidRequest(f"{SUMS_FILE} line {number} is not '<sha256>  <path>'")
            digest, rel = match.groups()
            sums[rel.removeprefix("./")] = digest.lower()
        return sums
