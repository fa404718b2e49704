"""What is installed: reading install records, checking installs are intact, access times.

The same on every backend: records are read through the filesystem, and only the access marker
and a file's size are asked of the backend.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
from typing import TYPE_CHECKING

from model_fetch._log import get_logger
from model_fetch.exceptions import InvalidRequest
from model_fetch.storage._hfadopt import adopt_snapshot, cached_snapshots
from model_fetch.storage._hflayout import RECORDS_DIR, HfLayout
from model_fetch.storage._layout import RECORD_NAME
from model_fetch.storage._record import decode_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from model_fetch.storage._backend import Backend
    from model_fetch.storage._record import InstallRecord

__all__ = ["Catalog"]

log = get_logger(__name__)


class Catalog:
    """The installed versions of one store.

    Args:
        backend: The store's backend.
    """

    def __init__(self, backend: Backend) -> None:
        """Nothing is read yet."""
        self._backend = backend

    def read_record(self, name: str, version: str) -> InstallRecord | None:
        """Return the install record of (name, version), or None if it is not installed."""
        self._backend.ensure_available()
        path = self._backend.layout.record_path(name, version)
        try:
            record = decode_record(self._backend.read_small(path))
        except FileNotFoundError:
            return self._adopt(name, version)
        except (ValueError, OSError) as exc:
            log.warning(
                "Ignoring unreadable install record %s: %s", self._backend.display(path), exc
            )
            return None
        if (record.name, record.version) != (name, version):
            log.warning(
                "Ignoring install record %s that names another model", self._backend.display(path)
            )
            return None
        return record

    def installed(self, name: str, version: str) -> InstallRecord | None:
        """The record of an intact install of (name, version), or None.

        A file missing from the record's generation may mean the record was switched to a new
        generation (and the old one deleted) since it was read: the record is re-read once.
        """
        record = self.read_record(name, version)
        if record is None or self.is_intact(record):
            return record
        again = self.read_record(name, version)
        if again is not None and again.generation != record.generation and self.is_intact(again):
            return again
        return None

    def is_intact(self, record: InstallRecord) -> bool:
        """Whether every file of the record exists with its recorded size."""
        base = _generation_dir(self._backend, record)
        for file in record.files:
            try:
                size = self._backend.size(self._backend.layout.join_rel(base, file.path))
            except (FileNotFoundError, OSError):
                return False
            if size != file.size:
                return False
        return True

    def hash_file(self, record: InstallRecord, rel: str) -> tuple[int, str] | None:
        """Return (size, sha256) of one installed file, or None if it is missing."""
        path = self._backend.layout.join_rel(_generation_dir(self._backend, record), rel)
        digest = hashlib.sha256()
        size = 0
        try:
            with self._backend.fs.open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except (FileNotFoundError, IsADirectoryError):
            return None
        return size, digest.hexdigest()

    def _adopt(self, name: str, version: str) -> InstallRecord | None:
        """In a hf-cache store: the snapshot huggingface_hub wrote, read as a record."""
        layout = self._backend.layout
        if not isinstance(layout, HfLayout):
            return None
        return adopt_snapshot(layout, name, version)

    def iter_records(self) -> Iterator[InstallRecord]:
        """Yield every install record in the store (unordered)."""
        self._backend.ensure_available()
        layout = self._backend.layout
        if isinstance(layout, HfLayout):
            yield from self._iter_hf(layout)
            return
        try:
            name_dirs = self._backend.fs.ls(self._backend.layout.models_dir, detail=False)
        except FileNotFoundError:
            return
        for name_dir in name_dirs:
            try:
                version_dirs = self._backend.fs.ls(name_dir, detail=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for version_dir in version_dirs:
                path = self._backend.layout.join_rel(version_dir, RECORD_NAME)
                try:
                    yield decode_record(self._backend.read_small(path))
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    continue
                except (ValueError, OSError) as exc:
                    log.warning(
                        "Ignoring unreadable install record %s: %s",
                        self._backend.display(path),
                        exc,
                    )

    def _iter_hf(self, layout: HfLayout) -> Iterator[InstallRecord]:
        """Every record of a hf-cache store, and every snapshot huggingface_hub wrote."""
        seen = set()
        for name, version in cached_snapshots(layout.root):
            with contextlib.suppress(InvalidRequest):
                record = self.read_record(name, version)
                if record is not None:
                    seen.add((name, version))
                    yield record
        for record_path in glob.glob(layout.join("models--*", RECORDS_DIR, "*", RECORD_NAME)):
            try:
                record = decode_record(self._backend.read_small(record_path))
            except (ValueError, OSError):
                continue
            if (record.name, record.version) not in seen:
                yield record

    def last_accessed(self, record: InstallRecord) -> dt.datetime:
        """When the version was installed or last reused."""
        marker = self._backend.layout.accessed_path(record.name, record.version)
        try:
            touched = self._backend.accessed_at(marker)
        except OSError:
            touched = None
        if touched is None:
            return record.installed_at
        return max(record.installed_at, dt.datetime.fromtimestamp(touched, dt.UTC))

    def touch_accessed(self, record: InstallRecord) -> None:
        """Note that an installed version was just reused (local stores only)."""
        self._backend.touch(self._backend.layout.accessed_path(record.name, record.version))


def _generation_dir(backend: Backend, record: InstallRecord) -> str:
    return backend.layout.generation_dir(record.name, record.version, record.generation)
