"""What a killed commit or removal leaves in a local store, and ``cache-prune`` takes back.

A commit renames its staging directory into a new generation before it writes the record, and a
removal deletes the record before the files, so a process killed in between leaves a generation
no record names (or a version directory without a record) and, once that goes, blobs no installed
file links to. The next install of that version removes such generations; ``cache-prune`` removes
them for every version, each under the version's lock taken without waiting (a live install or
removal holds it and is left alone), then frees the blobs nothing links to.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from typing import TYPE_CHECKING, Any

from model_fetch._log import get_logger
from model_fetch._paths import escape_segment
from model_fetch.storage._blobs import BLOBS_DIR
from model_fetch.storage._layout import RECORD_NAME, REFS_DIR, is_generation
from model_fetch.storage._record import read_record_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from model_fetch.storage._locks import StoreLock

__all__ = ["free_unused_blobs", "sweep_versions"]

log = get_logger(__name__)


def sweep_versions(
    models: str,
    fs: Any,
    lock: Callable[[str, str], StoreLock],
    rm_tree: Callable[[str], None],
) -> int:
    """Remove the generations no record names, each version under its lock; return how many.

    Args:
        models: The store's ``models`` directory.
        fs: The store's (local) filesystem, to read records.
        lock: The lock of one (name, version).
        rm_tree: Deletes a directory tree.
    """
    count = 0
    for name, version, version_dir in _version_dirs(models):
        held = lock(name, version)
        if not held.try_acquire():
            continue  # an install or a removal of it is running
        try:
            count += _sweep_version(fs, rm_tree, version_dir)
        finally:
            held.release()
    return count


def _version_dirs(models: str) -> Iterator[tuple[str, str, str]]:
    """Every (name, version, directory) whose escaped segments can be read back.

    A segment too long to be escaped in full ends in a hash and cannot; that version is left to
    its next install.
    """
    with contextlib.suppress(OSError):
        for name_segment in sorted(os.listdir(models)):
            name = urllib.parse.unquote(name_segment)
            name_dir = os.path.join(models, name_segment)
            if escape_segment(name) != name_segment or not os.path.isdir(name_dir):
                continue
            with contextlib.suppress(OSError):
                for version_segment in sorted(os.listdir(name_dir)):
                    version = urllib.parse.unquote(version_segment)
                    if version_segment == REFS_DIR or escape_segment(version) != version_segment:
                        continue
                    yield name, version, os.path.join(name_dir, version_segment)


def _sweep_version(fs: Any, rm_tree: Callable[[str], None], version_dir: str) -> int:
    record_path = os.path.join(version_dir, RECORD_NAME)
    try:
        keep = read_record_file(fs, record_path).generation
    except FileNotFoundError:
        keep = None
    except (ValueError, OSError) as exc:
        log.warning("Not pruning %s: its install record is unreadable (%s)", version_dir, exc)
        return 0
    try:
        entries = os.listdir(version_dir)
    except OSError:
        return 0
    orphans = [entry for entry in entries if is_generation(entry) and entry != keep]
    if keep is None:
        rm_tree(version_dir)  # not installed: what is left of it is nobody's
    else:
        for entry in orphans:
            rm_tree(os.path.join(version_dir, entry))
    return len(orphans)


def free_unused_blobs(root: str) -> int:
    """Unlink the blobs that no installed file links to; return how many files that freed.

    A blob's link count is its reference count: one whose links are all under ``blobs/`` is used
    by nobody. An install that links to such a blob while it is being freed keeps its own copy
    (it holds a link to the inode), so the race costs sharing, never bytes.
    """
    by_inode: dict[tuple[int, int], list[str]] = {}
    for dirpath, _dirs, files in os.walk(os.path.join(root, BLOBS_DIR)):
        for file in files:
            path = os.path.join(dirpath, file)
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                by_inode.setdefault((info.st_dev, info.st_ino), []).append(path)
    freed = 0
    for entries in by_inode.values():
        with contextlib.suppress(OSError):
            if os.lstat(entries[0]).st_nlink <= len(entries):
                for entry in entries:
                    os.unlink(entry)
                freed += 1
    return freed
