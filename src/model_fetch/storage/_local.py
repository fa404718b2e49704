"""The local backend: a store in a directory of this machine.

The commit is a rename: the staged directory (on the same disk, under the root's ``.staging``)
becomes the new generation, then the record is replaced atomically; everything is fsynced first, so
a crash leaves the old install or the new one. Locks are lock files under ``.locks``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from typing import TYPE_CHECKING, Any

from model_fetch.storage._blobs import link_blobs
from model_fetch.storage._layout import GENERATION_PREFIX, RECORD_NAME, Layout, lock_key
from model_fetch.storage._locks import LocalLock, local_lock
from model_fetch.storage._reclaim import free_unused_blobs, sweep_versions
from model_fetch.storage._staging import COMMIT_SUFFIX

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from model_fetch.storage._record import InstallRecord

__all__ = ["LocalBackend"]


class LocalBackend:
    """A store in a local directory, worked on with ``os`` and ``shutil``.

    fsspec is imported only when something asks for :attr:`fs` (listing every install, the
    mirror's copy), never to read a record, so a cache hit does without it.

    Args:
        path: The root directory.
        storage_options: Options for fsspec's local filesystem, when it is first needed.
        fs: That filesystem, when the caller already opened one (a ``file://`` URL).
    """

    local = True
    object_store = False

    def __init__(
        self, path: str, storage_options: dict[str, Any] | None = None, *, fs: Any = None
    ) -> None:
        """Resolve the root; nothing is created until the first write."""
        self._fs = fs
        self._storage_options = dict(storage_options or {})
        root = os.path.abspath(os.path.expanduser(path))
        self.layout = Layout(root, local=True)
        self.url = root

    @property
    def fs(self) -> Any:
        """The fsspec local filesystem, imported on first use."""
        if self._fs is None:
            from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415 - see above

            self._fs = LocalFileSystem(**self._storage_options)
        return self._fs

    def display(self, path: str) -> str:
        """Local paths are shown as they are."""
        return path

    def meta_dir(self, kind: str) -> str:
        """The store's own directories live under its root."""
        return os.path.join(self.layout.root, kind)

    def disk(self) -> str:
        """The root's disk."""
        return self.layout.root

    def ensure_available(self) -> None:
        """A local directory is always available (it is created on first write)."""

    def supports_conditional_writes(self) -> bool:
        """Local stores lock with lock files instead."""
        return False

    def size(self, path: str) -> int:
        """The size of one file."""
        return os.path.getsize(path)

    def accessed_at(self, marker: str) -> float | None:
        """The marker's mtime (raises OSError when it was never touched)."""
        return os.path.getmtime(marker)

    def touch(self, marker: str) -> None:
        """Create or touch the marker; a failure only loses the access time."""
        with contextlib.suppress(OSError):
            with open(marker, "a", encoding="utf-8"):
                pass
            os.utime(marker)

    def read_small(self, path: str) -> bytes:
        """Read the file."""
        with open(path, "rb") as handle:
            return handle.read()

    def write_small(self, path: str, data: bytes, *, scratch: str | None = None) -> None:
        """Write under a temporary name (in ``scratch``, else beside the target), rename over it."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = (
            os.path.join(scratch, "small.tmp")
            if scratch is not None
            else f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        )
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def rm_tree(self, path: str) -> None:
        """Delete a directory tree, ignoring what is already gone."""
        shutil.rmtree(path, ignore_errors=True)

    def commit(
        self,
        staging: str,
        record: InstallRecord,
        document: bytes,
        *,
        on_upload: Callable[[int], None],  # noqa: ARG002 - nothing is uploaded
        guard: Callable[[], None],
        cancel: threading.Event | None,  # noqa: ARG002 - a rename cannot be cancelled
        keep_staging: bool,  # noqa: ARG002 - the staging directory becomes the generation
    ) -> None:
        """Rename the staging directory into place, then replace the record atomically.

        Every temporary name of the commit (blob links, the record's) is made in
        ``<staging>.commit``, which the staging directory's lock still covers once the directory
        became the generation: a kill -9 at any step leaves nothing half-made in the store itself.
        """
        layout = self.layout
        version_dir = layout.version_dir(record.name, record.version)
        target = layout.generation_dir(record.name, record.version, record.generation)
        scratch = staging + COMMIT_SUFFIX
        os.makedirs(version_dir, exist_ok=True)
        os.makedirs(scratch, exist_ok=True)
        _fsync_tree(staging)
        guard()
        os.rename(staging, target)
        link_blobs(layout.root, target, record.files, record.etags, scratch)
        _fsync_dir(version_dir)
        write_record(scratch, os.path.join(version_dir, RECORD_NAME), document)
        self._remove_old_generations(version_dir, keep=record.generation)
        self.rm_tree(scratch)

    def _remove_old_generations(self, version_dir: str, keep: str) -> None:
        try:
            entries = os.listdir(version_dir)
        except FileNotFoundError:
            return
        for base in entries:
            if base.startswith(GENERATION_PREFIX) and base != keep:
                with contextlib.suppress(OSError):
                    self.rm_tree(os.path.join(version_dir, base))

    def lock(self, name: str, version: str) -> LocalLock:
        """A lock file under the root's ``.locks``."""
        return local_lock(self.meta_dir(".locks"), name, version, lock_key(name, version))

    def prune(self, older_than: float | None) -> dict[str, int]:  # noqa: ARG002 - nothing to age
        """Remove what killed commits and removals left: orphaned generations, unused blobs.

        Local stores leave no leases or uploads behind.
        """
        orphans = sweep_versions(self.layout.models_dir, self.fs, self.lock, self.rm_tree)
        free_unused_blobs(self.layout.root)
        return {"expired_leases": 0, "orphaned_generations": orphans, "abandoned_uploads": 0}

    def close(self) -> None:
        """Nothing runs in the background."""


def write_record(scratch: str, path: str, document: bytes) -> None:
    """Write the record under a temporary name in ``scratch``, fsync it, rename it into place.

    The rename is the moment the install exists; both directories are fsynced after it.
    """
    tmp = os.path.join(scratch, RECORD_NAME + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(document)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: str) -> None:
    """Flush every directory of a staged tree (the files were fsynced as they were written)."""
    for dirpath, _dirs, _files in os.walk(path):
        _fsync_dir(dirpath)
