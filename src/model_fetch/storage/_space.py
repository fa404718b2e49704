"""Space accounting: what a store holds, what still fits, the quota, and ``cache-info``.

The figures count the installs (their records' sizes), the staging area and the partial
downloads. Without a quota they are the disk's own: the root's disk for local stores, and for the
others the local staging directory's, since that is what every download passes through.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from typing import TYPE_CHECKING

from model_fetch._models import CachedModel, CacheInfo
from model_fetch.exceptions import InsufficientStorage

if TYPE_CHECKING:
    from collections.abc import Iterable

    from model_fetch._config import Settings
    from model_fetch.storage._backend import Backend
    from model_fetch.storage._catalog import Catalog
    from model_fetch.storage._record import InstallRecord
    from model_fetch.storage._staging import StagingArea

__all__ = ["Space", "no_room"]


class Space:
    """The space figures of one store.

    Args:
        backend: The store's backend (where its local directories and its disk are).
        settings: The downloader's settings (the quota).
        catalog: The store's installed versions.
        staging: The store's staging area.
    """

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        catalog: Catalog,
        staging: StagingArea,
    ) -> None:
        """Nothing is measured until asked."""
        self._backend = backend
        self._settings = settings
        self._catalog = catalog
        self._staging = staging

    def staging_usage(self) -> tuple[int, int]:
        """Bytes and entries held in the staging area by live installs.

        Staging abandoned by a dead process is reclaimed first, so it is never counted.
        """
        return self._staging.usage()

    def partials(self) -> list[tuple[str, int, float]]:
        """Every partial download kept: (path, bytes, last modified as a timestamp)."""
        directory = self._backend.meta_dir(".partials")
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(directory):
                if entry.name.endswith(".part"):
                    with contextlib.suppress(OSError):
                        info = entry.stat()
                        found.append((entry.path, info.st_size, info.st_mtime))
        return found

    def prune_partials(self, older_than: float | None = None) -> tuple[int, int]:
        """Delete partial downloads (only those untouched for ``older_than`` seconds, if given).

        Returns:
            How many partials were deleted and how many bytes that freed.
        """
        now = dt.datetime.now(dt.UTC).timestamp()
        count = freed = 0
        for path, size, modified in self.partials():
            if older_than is not None and now - modified < older_than:
                continue
            for victim in (path, path.removesuffix(".part") + ".json"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(victim)
            count += 1
            freed += size
        return count, freed

    def capacity(self) -> tuple[int, int, int]:
        """Return (total, used, available) bytes, honouring the quota when one is set."""
        quota = self._settings.max_store_bytes
        if quota is not None:
            used = (
                sum(record.size for record in self._catalog.iter_records())
                + self.staging_usage()[0]
                + sum(size for _path, size, _when in self.partials())
            )
            return quota, used, max(0, quota - used)
        probe = self._backend.disk()
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        usage = shutil.disk_usage(probe)
        # Space reserved for root (or held by the VM's thin provisioning) is neither used
        # nor available to us; leaving it out keeps used + available == total, as df's Use%.
        return usage.used + usage.free, usage.used, usage.free

    def available(self) -> int | None:
        """Bytes that may still be written (on object stores: in the local staging directory)."""
        total, _used, available = self.capacity()
        if not total:
            return None
        return available

    def check_space(self, required: int, already_held: int = 0) -> None:
        """Raise InsufficientStorage if ``required`` more bytes do not fit.

        Args:
            required: Bytes the download needs in total.
            already_held: Bytes of it already on disk (they are in the used figure now, so they
                count as available to it).
        """
        available = self.available()
        if available is None:
            return
        if required - already_held > available:
            raise no_room(required, available + already_held)

    def check_quota(self, staged: int = 0) -> None:
        """Raise InsufficientStorage if the store (staging included) is over its quota.

        Args:
            staged: Bytes of the install being checked (its staging directory), which the
                message names as required; the rest of the used figure is not available to it.
        """
        quota = self._settings.max_store_bytes
        if quota is None:
            return
        _total, used, _available = self.capacity()
        if used > quota:
            required = staged or used
            raise no_room(required, max(0, quota - (used - required)))

    def cache_info(self) -> CacheInfo:
        """Describe the store (the body of ``GET /cache-info``)."""
        records = sorted(self._catalog.iter_records(), key=lambda r: (r.name, r.version))
        total, used, available = self.capacity()
        staging_bytes, staging_entries = self.staging_usage()
        partials = self.partials()
        return CacheInfo(
            cache_directory=self._backend.url,
            total_bytes=total,
            used_bytes=used,
            available_bytes=available,
            deduplicated_bytes=self.deduplicated(records),
            models=tuple(
                CachedModel(
                    model_name=record.name,
                    version=record.version,
                    size_bytes=record.size,
                    last_accessed=self._catalog.last_accessed(record),
                )
                for record in records
            ),
            download_bytes=staging_bytes + sum(size for _path, size, _when in partials),
            download_entries=staging_entries + len(partials),
            partial_downloads=len(partials),
            completed_downloads=sum(len(record.archives) for record in records),
            last_updated=dt.datetime.now(dt.UTC),
        )

    def deduplicated(self, records: Iterable[InstallRecord]) -> int:
        """Bytes that sharing saves on disk: the files' sizes less their unique inodes' sizes.

        Only local stores share storage (hard links, huggingface_hub's blobs through symlinks);
        on object stores every version keeps its own object, so nothing is saved on disk.
        """
        if not self._backend.local:
            return 0
        layout = self._backend.layout
        logical = 0
        inodes: dict[tuple[int, int], int] = {}
        for record in records:
            base = layout.generation_dir(record.name, record.version, record.generation)
            for file in record.files:
                try:
                    info = os.stat(layout.join_rel(base, file.path))
                except OSError:
                    continue
                logical += info.st_size
                inodes[(info.st_dev, info.st_ino)] = info.st_size
        return logical - sum(inodes.values())


def no_room(required: int, available: int) -> InsufficientStorage:
    """The 413 of a download that needs ``required`` bytes where ``available`` are free for it.

    Both figures are the true ones; when they round to the same tenth of a MB the message gives
    them in bytes, so it always shows why the download did not fit.
    """
    shown_required, shown_available = _mb(required), _mb(available)
    if shown_required == shown_available:
        text = f"Required: {required} bytes, Available: {available} bytes"
    else:
        text = f"Required: {shown_required}MB, Available: {shown_available}MB"
    return InsufficientStorage(
        f"Insufficient storage space. {text}",
        required_bytes=required,
        available_bytes=available,
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f}"
