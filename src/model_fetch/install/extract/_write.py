"""Writing members: fresh files and directories only, every byte counted against the limits."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from typing import TYPE_CHECKING

from model_fetch.install.extract._codecs import CHUNK, decoding
from model_fetch.install.extract._values import ExtractedFile, UnsafeArchive

if TYPE_CHECKING:
    from pathlib import Path

    from model_fetch.install.extract._codecs import Readable
    from model_fetch.install.extract._plan import Entry
    from model_fetch.install.extract._values import ExtractLimits

__all__ = ["Budget", "clear", "copy_member", "make_dirs"]


class Budget:
    """Counts the bytes written and refuses the first chunk that would pass a limit."""

    def __init__(self, label: str, limits: ExtractLimits, archive_size: int) -> None:
        self.label = label
        self.limits = limits
        self.archive_size = max(archive_size, 1)
        self.total = 0

    def charge(self, member: str, written: int, more: int, compressed: int | None) -> None:
        limits = self.limits
        file_bytes = written + more
        total = self.total + more
        reason = None
        if file_bytes > limits.max_file_bytes:
            reason = f"the file exceeds max_file_bytes ({limits.max_file_bytes} bytes)"
        elif total > limits.max_total_bytes:
            reason = f"the files exceed max_total_bytes ({limits.max_total_bytes} bytes)"
        elif total > limits.max_ratio * self.archive_size:
            reason = (
                f"more than max_ratio ({limits.max_ratio}) bytes written per archive byte"
                " (a decompression bomb?)"
            )
        elif compressed is not None and file_bytes > limits.max_ratio * max(compressed, 1):
            reason = (
                f"the entry expands more than max_ratio ({limits.max_ratio}) times"
                " (a decompression bomb?)"
            )
        if reason is not None:
            raise UnsafeArchive(archive=self.label, member=member, reason=reason)
        self.total = total


def make_entry_dirs(label: str, dest: Path, entry: Entry) -> Path | None:
    """Create the directories a planned entry needs.

    Returns:
        Where a file entry is to be written (its parent directory now exists), or None for a
        directory entry, which is then created itself.
    """
    parts = entry.path.split("/")
    if entry.is_dir:
        make_dirs(label, dest, parts)
        return None
    return make_dirs(label, dest, parts[:-1]) / parts[-1]


def make_dirs(label: str, dest: Path, parts: list[str]) -> Path:
    """Create ``dest/parts...`` one level at a time, refusing anything but real directories."""
    current = dest
    for part in parts:
        current /= part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            current.chmod(0o755)
            continue
        if not stat.S_ISDIR(mode):
            reason = "a parent path exists and is not a directory"
            raise UnsafeArchive(archive=label, member="/".join(parts), reason=reason)
    return current


def copy_member(
    src: Readable,
    target: Path,
    *,
    member: str,
    budget: Budget,
    compressed: int | None = None,
) -> ExtractedFile:
    """Stream ``src`` into the new file ``target``, counting and hashing the bytes written."""
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        reason = "the path already exists (a duplicate member)"
        raise UnsafeArchive(archive=budget.label, member=member, reason=reason) from None
    digest = hashlib.sha256()
    size = 0
    with open(fd, "wb", closefd=True) as out:
        os.fchmod(out.fileno(), 0o644)
        while True:
            with decoding(budget.label, member):
                chunk = src.read(CHUNK)
            if not chunk:
                break
            budget.charge(member, size, len(chunk), compressed)
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return ExtractedFile(path=member, size=size, sha256=digest.hexdigest())


def clear(dest: Path) -> None:
    """Remove everything under ``dest`` (best effort: it runs while an error propagates)."""
    with contextlib.suppress(OSError), os.scandir(dest) as entries:
        for entry in list(entries):
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
