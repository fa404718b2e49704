"""The staging area: one directory per install being prepared, each held by a lock file.

A staging directory ``stage-<id>`` is created only after its lock file ``stage-<id>.lock`` beside
it is locked, and that lock is held until the directory was committed or discarded. Scratch
directories of the same install (``stage-<id>.extract-*``, where archives are unpacked, and
``stage-<id>.commit``, where a commit makes its temporary names) belong to the same lock. The
operating system releases a lock when its holder dies, kill -9 included, so a staging directory
whose lock can be taken belongs to nobody: :meth:`StagingArea.reclaim` deletes
it, with its lock file. That runs before every new staging directory is made, before the area is
measured (``cache-info``, the quota) and in ``cache-prune``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from typing import TYPE_CHECKING

from model_fetch.storage._locks import LocalLock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["COMMIT_SUFFIX", "StagingArea", "tree_size"]

#: The prefix of a staging directory's name.
STAGE_PREFIX = "stage-"
#: The suffix of the lock file held for a staging directory's lifetime.
LOCK_SUFFIX = ".lock"
#: The suffix of a commit's scratch directory (temporary links and record), the same lock's.
COMMIT_SUFFIX = ".commit"


class StagingArea:
    """The staging directories of one store, on this machine's disk.

    Args:
        directory: Returns the staging area's directory (``.staging`` of the store, or of its
            local staging root on an object store).
    """

    def __init__(self, directory: Callable[[], str]) -> None:
        """Nothing is created until the first staging directory."""
        self._directory = directory
        self._held: dict[str, LocalLock] = {}
        self._mutex = threading.Lock()

    def new(self) -> str:
        """Reclaim abandoned staging, then create and lock a fresh, empty staging directory."""
        base = self._directory()
        os.makedirs(base, exist_ok=True)
        self.reclaim()
        while True:
            path = os.path.join(base, STAGE_PREFIX + uuid.uuid4().hex[:16])
            lock = LocalLock(path + LOCK_SUFFIX, what="a staging directory")
            if not lock.try_acquire():
                continue  # a reclaim had just opened this very name: take another
            if not os.path.exists(lock.path):
                lock.release()  # unlinked by a reclaim between our open and our lock
                continue
            os.mkdir(path)
            with self._mutex:
                self._held[path] = lock
            return path

    @contextlib.contextmanager
    def scratch(self) -> Iterator[str]:
        """A fresh staging directory for temporary names, removed and let go at the end."""
        path = self.new()
        try:
            yield path
        finally:
            self.discard(path)

    def finish(self, staging: str) -> None:
        """Let a staging directory's lock go once the directory was committed or removed.

        A directory this area did not create (another store's, handed to a mirror) is ignored.
        """
        with self._mutex:
            lock = self._held.pop(staging, None)
        if lock is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock.path)  # while still held: nobody can take a lock file being deleted
        lock.release()

    def discard(self, staging: str) -> None:
        """Remove a staging directory (after a failure) and let its lock go."""
        shutil.rmtree(staging, ignore_errors=True)
        self.finish(staging)

    def reclaim(self) -> tuple[int, int]:
        """Delete the staging left by dead processes: every entry whose lock can be taken.

        Returns:
            How many abandoned staging directories were deleted and the bytes that freed.
        """
        base = self._directory()
        try:
            entries = os.listdir(base)
        except FileNotFoundError:
            return 0, 0
        owners: dict[str, list[str]] = {}
        for entry in entries:
            if entry.endswith(LOCK_SUFFIX):
                owners.setdefault(entry.removesuffix(LOCK_SUFFIX), [])
            else:
                owners.setdefault(entry.split(".", 1)[0], []).append(entry)
        count = freed = 0
        for owner, members in owners.items():
            owner_path = os.path.join(base, owner)
            with self._mutex:
                if owner_path in self._held:
                    continue
            lock = LocalLock(owner_path + LOCK_SUFFIX, what="a staging directory")
            if not lock.try_acquire():
                continue  # its process is alive
            try:
                for member in members:
                    path = os.path.join(base, member)
                    freed += tree_size(path) if os.path.isdir(path) else _file_size(path)
                    _remove(path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock.path)
            finally:
                lock.release()
            count += 1 if members else 0
        return count, freed

    def usage(self) -> tuple[int, int]:
        """Bytes and staging directories held by live installs (abandoned ones are reclaimed)."""
        self.reclaim()
        base = self._directory()
        try:
            entries = os.listdir(base)
        except FileNotFoundError:
            return 0, 0
        live = {entry.split(".", 1)[0] for entry in entries if not entry.endswith(LOCK_SUFFIX)}
        return tree_size(base), len(live)


def tree_size(path: str) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    total = 0
    if not os.path.isdir(path):
        return 0
    for dirpath, _dirs, files in os.walk(path):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(dirpath, file))
    return total


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
