"""The hf-cache backend: a store that is the Hugging Face cache huggingface_hub reads.

A commit moves each verified staged file onto its blob (``blobs/<etag>``, a rename on one disk),
points ``snapshots/<commit>/<path>`` at it with a relative symlink (made in the staging directory
and renamed into place, so the snapshot never holds a half-made link), and writes the install
record last, beside the cache (see :mod:`model_fetch.storage._hflayout`). Where symlinks are
refused, or ``HF_HUB_DISABLE_SYMLINKS`` is set, the file itself goes into the snapshot, as
huggingface_hub does. Removing a version unlinks its snapshot entries and frees a blob only when
no snapshot of the repository still points at it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from typing import TYPE_CHECKING, Any

from model_fetch._log import get_logger
from model_fetch.storage._hflayout import HF_TAG, RECORDS_DIR, REMOVING_NAME, HfLayout
from model_fetch.storage._layout import RECORD_NAME
from model_fetch.storage._local import LocalBackend, _fsync_dir, write_record
from model_fetch.storage._record import read_record_file

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from model_fetch.storage._record import InstallRecord

__all__ = ["HfCacheBackend", "symlinks_disabled"]

log = get_logger(__name__)


def symlinks_disabled() -> bool:
    """Whether ``HF_HUB_DISABLE_SYMLINKS`` asks for copies (read at call time)."""
    return os.environ.get("HF_HUB_DISABLE_SYMLINKS", "").upper() in {"1", "ON", "YES", "TRUE"}


class HfCacheBackend(LocalBackend):
    """A store in a Hugging Face cache directory (always local).

    Args:
        path: The cache directory.
        storage_options: Options for fsspec's local filesystem, when it is first needed.
    """

    hf_cache = True

    def __init__(self, path: str, storage_options: dict[str, Any] | None = None) -> None:
        """Resolve the cache directory; nothing is created until the first write."""
        super().__init__(path, storage_options)
        self.hf_layout = HfLayout(self.layout.root, local=True)
        self.layout = self.hf_layout

    def meta_dir(self, kind: str) -> str:
        """model_fetch's working directories, under ``.locks`` where huggingface_hub looks past."""
        return self.hf_layout.meta(kind.lstrip("."))

    def commit(
        self,
        staging: str,
        record: InstallRecord,
        document: bytes,
        *,
        on_upload: Callable[[int], None],  # noqa: ARG002 - nothing is uploaded
        guard: Callable[[], None],
        cancel: threading.Event | None,  # noqa: ARG002 - renames cannot be cancelled
        keep_staging: bool,  # noqa: ARG002 - the staged files become the blobs
    ) -> None:
        """Blobs first, then the snapshot's links, then the record; the staging goes last."""
        layout = self.hf_layout
        name = record.name
        snapshot = layout.generation_dir(name, record.version, record.generation)
        blobs = os.path.dirname(layout.blob_path(name, "x"))
        version_dir = layout.version_dir(name, record.version)
        # First: while it exists without a record, the snapshot is not read as huggingface_hub's.
        os.makedirs(version_dir, exist_ok=True)
        os.makedirs(blobs, exist_ok=True)
        os.makedirs(snapshot, exist_ok=True)
        _write_tag(layout.root)
        links = os.path.join(staging, ".links-" + uuid.uuid4().hex[:8])
        os.makedirs(links)
        copies = symlinks_disabled()
        touched = {blobs}
        guard()
        for index, file in enumerate(record.files):
            staged = os.path.join(staging, *file.path.split("/"))
            pointer = os.path.join(snapshot, *file.path.split("/"))
            os.makedirs(os.path.dirname(pointer), exist_ok=True)
            touched.add(os.path.dirname(pointer))
            if copies:
                os.replace(staged, pointer)
                continue
            blob = layout.blob_path(name, record.etags.get(file.path) or file.sha256)
            # The staged bytes were verified; a blob already there may not have been.
            os.replace(staged, blob)
            link = os.path.join(links, str(index))
            try:
                os.symlink(os.path.relpath(blob, os.path.dirname(pointer)), link)
                os.replace(link, pointer)
            except OSError:
                log.debug("Symlinks refused in %s: copying %s", snapshot, file.path)
                shutil.copyfile(blob, link)
                os.replace(link, pointer)
        for directory in sorted(touched):
            _fsync_dir(directory)
        guard()
        # The record's temporary name is in the staging directory too (reclaimed after a kill).
        write_record(links, os.path.join(version_dir, RECORD_NAME), document)
        shutil.rmtree(staging, ignore_errors=True)

    def prune(self, older_than: float | None) -> dict[str, int]:  # noqa: ARG002 - nothing to age
        """Finish the removals a killed process left (their ``removing.json``), each under its lock.

        A version directory left by a killed commit stays: its blobs and links are complete and
        verified (huggingface_hub may read them), and the next download of it finishes it.
        """
        finished = 0
        pattern = os.path.join(glob.escape(self.layout.root), "models--*", RECORDS_DIR, "*")
        for marker in sorted(glob.glob(os.path.join(pattern, REMOVING_NAME))):
            try:
                record = read_record_file(self.fs, marker)
            except (ValueError, OSError):
                continue
            lock = self.lock(record.name, record.version)
            if not lock.try_acquire():
                continue
            try:
                if os.path.exists(marker):
                    self.remove_version(record)
                    finished += 1
            finally:
                lock.release()
        return {"expired_leases": 0, "orphaned_generations": finished, "abandoned_uploads": 0}

    def remove_version(self, record: InstallRecord) -> list[str]:
        """Unlink a version's snapshot entries; free the blobs no snapshot points at any more.

        The record is renamed to ``removing.json`` first, so a crash mid-way leaves the version
        uninstalled, and its directory goes last: until then the rest of the snapshot is not
        read as huggingface_hub's, and ``cache-prune`` finishes the removal from that file.

        Returns:
            The snapshot paths that were removed.
        """
        layout = self.hf_layout
        version_dir = layout.version_dir(record.name, record.version)
        with contextlib.suppress(FileNotFoundError):
            os.replace(
                layout.record_path(record.name, record.version),
                os.path.join(version_dir, REMOVING_NAME),
            )
        snapshot = layout.generation_dir(record.name, record.version, record.generation)
        removed = []
        for file in record.files:
            pointer = os.path.join(snapshot, *file.path.split("/"))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pointer)
                removed.append(pointer)
        _prune_empty(snapshot)
        repo = layout.repo_dir(record.name)
        used = _linked_blobs(os.path.join(repo, "snapshots"))
        blobs = os.path.join(repo, "blobs")
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(blobs):
                if os.path.realpath(entry.path) not in used:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        self.rm_tree(version_dir)
        snapshots = os.path.join(repo, "snapshots")
        if not os.path.isdir(snapshots) or not os.listdir(snapshots):
            self.rm_tree(repo)
        return removed


def _write_tag(root: str) -> None:
    """Tag the cache for backup tools, as huggingface_hub does (never overwritten)."""
    path = os.path.join(root, "CACHEDIR.TAG")
    if not os.path.exists(path):
        with contextlib.suppress(OSError), open(path, "x", encoding="utf-8") as handle:
            handle.write(HF_TAG)


def _linked_blobs(snapshots: str) -> set[str]:
    """Every blob a symlink under ``snapshots/`` points at (resolved paths)."""
    found = set()
    for dirpath, _dirs, files in os.walk(snapshots):
        for file in files:
            path = os.path.join(dirpath, file)
            if os.path.islink(path):
                found.add(os.path.realpath(path))
    return found


def _prune_empty(directory: str) -> None:
    """Remove the empty directories of a tree, the tree itself included."""
    for dirpath, _dirs, _files in os.walk(directory, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
