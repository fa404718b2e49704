"""The tar reader: a strict pre-scan of every header, then a second pass that must match it."""

from __future__ import annotations

import contextlib
import os
import tarfile
from typing import TYPE_CHECKING, Final, Self

from model_fetch.install.extract import _write
from model_fetch.install.extract._codecs import (
    CHUNK,
    TAR_BLOCK,
    decoding,
    open_decompressed,
    read_exactly,
)
from model_fetch.install.extract._kinds import CODEC
from model_fetch.install.extract._plan import Plan
from model_fetch.install.extract._values import UnsafeArchive

if TYPE_CHECKING:
    from model_fetch.install.extract._codecs import Readable
    from model_fetch.install.extract._plan import Job
    from model_fetch.install.extract._values import ExtractedFile

__all__ = ["extract_tar"]


class _CorruptTar(tarfile.TarError):
    """A tar header after the first one is damaged (tarfile would silently stop there)."""


class _StrictTarInfo(tarfile.TarInfo):
    """A ``TarInfo`` that reports a damaged header instead of taking it as the archive's end."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        """Read the next header, raising on anything but a clean end of the archive."""
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.HeaderError as exc:
            # A zero block, or the end of the data, ends an archive; nothing else may.
            if type(exc).__name__ in {"EOFHeaderError", "EmptyHeaderError"}:
                raise
            msg = f"damaged tar header ({exc})"
            raise _CorruptTar(msg) from exc


class _CappedStream:
    """A forward-only view of a decompressed stream that refuses to read past ``cap`` bytes.

    It bounds the work of the pre-scan (which decompresses the whole stream to reach every
    header) independently of the header sizes.
    """

    def __init__(self, src: Readable, cap: int, label: str) -> None:
        self._src = src
        self._cap = cap
        self._label = label
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            msg = "unbounded read of a decompressed tar stream"
            raise OSError(msg)
        data = read_exactly(self._src, size)
        self._pos += len(data)
        if self._pos > self._cap:
            reason = f"the decompressed tar stream exceeds {self._cap} bytes (the limits)"
            raise UnsafeArchive(archive=self._label, reason=reason)
        return data

    def write(self, _data: bytes, /) -> int:
        msg = "read-only stream"
        raise OSError(msg)

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET, /) -> int:
        target = pos if whence == os.SEEK_SET else self._pos + pos
        if whence not in {os.SEEK_SET, os.SEEK_CUR} or target < self._pos:
            msg = "the decompressed tar stream can only move forward"
            raise OSError(msg)
        while self._pos < target:
            if not self.read(min(CHUNK, target - self._pos)):
                break
        return self._pos

    def close(self) -> None:
        return None


def _open_tar(stack: contextlib.ExitStack, job: Job) -> tarfile.TarFile:
    # Both passes decompress the whole stream; bound that by the limits plus room for headers.
    limits = job.limits
    cap = (
        min(limits.max_total_bytes, int(limits.max_ratio * max(job.archive_size, 1)))
        + 5 * TAR_BLOCK * (limits.max_members + 2)
        + 20 * TAR_BLOCK
    )
    with decoding(job.label, None):
        decompressed = open_decompressed(stack, job.path, CODEC[job.kind])
        stream = _CappedStream(decompressed, cap, job.label)
        return stack.enter_context(
            tarfile.open(fileobj=stream, mode="r:", tarinfo=_StrictTarInfo),
        )


def _next_member(job: Job, tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    with decoding(job.label, None):
        return tar.next()


_PLAIN_TAR_TYPES: Final = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_TAR_TYPE_PROBLEMS: Final = {
    tarfile.SYMTYPE: "it is a symbolic link",
    tarfile.LNKTYPE: "it is a hard link",
    tarfile.CHRTYPE: "it is a character device",
    tarfile.BLKTYPE: "it is a block device",
    tarfile.FIFOTYPE: "it is a FIFO",
    tarfile.GNUTYPE_SPARSE: "it is a sparse file",
}


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Return what is wrong with a member's type, or None for a regular file or directory."""
    if member.issparse():
        return "it is a sparse file"
    if member.isdir() or member.type in _PLAIN_TAR_TYPES:
        return None
    default = f"it is neither a regular file nor a directory (type {member.type!r})"
    return _TAR_TYPE_PROBLEMS.get(member.type, default)


def _scan_tar(job: Job) -> tuple[Plan, list[tuple[str, bytes, int]]]:
    """Check every member of a tar archive; return the plan and each member's identity."""
    plan = Plan(job.label, job.limits, job.archive_size)
    seen: list[tuple[str, bytes, int]] = []
    with contextlib.ExitStack() as stack:
        tar = _open_tar(stack, job)
        while (member := _next_member(job, tar)) is not None:
            problem = _member_problem(member)
            if problem is not None:
                raise UnsafeArchive(archive=job.label, member=member.name, reason=problem)
            plan.add(member.name, is_dir=member.isdir(), size=member.size)
            try:
                tarfile.data_filter(member, str(job.dest))
            except (tarfile.TarError, OSError, ValueError) as exc:
                reason = f"tarfile's data filter refused it ({type(exc).__name__}: {exc})"
                raise UnsafeArchive(archive=job.label, member=member.name, reason=reason) from exc
            seen.append((member.name, member.type, member.size))
    plan.finish()
    return plan, seen


def extract_tar(job: Job) -> list[ExtractedFile]:
    plan, seen = _scan_tar(job)
    label = job.label
    budget = _write.Budget(label, job.limits, job.archive_size)
    written: list[ExtractedFile] = []
    changed = "the archive changed between the pre-scan and the extraction"
    with contextlib.ExitStack() as stack:
        tar = _open_tar(stack, job)
        for identity, entry in zip(seen, plan.entries, strict=True):
            member = _next_member(job, tar)
            if member is None or (member.name, member.type, member.size) != identity:
                raise UnsafeArchive(archive=label, reason=changed)
            if entry is None:
                continue
            target = _write.make_entry_dirs(label, job.dest, entry)
            if target is None:
                continue
            with decoding(label, member.name):
                src = tar.extractfile(member)
            if src is None:  # pragma: no cover - regular files always have data
                raise UnsafeArchive(archive=label, member=member.name, reason="it has no data")
            with src:
                result = _write.copy_member(src, target, member=entry.path, budget=budget)
            if result.size != member.size:
                reason = f"{result.size} bytes were read but the header says {member.size}"
                raise UnsafeArchive(archive=label, member=member.name, reason=reason)
            written.append(result)
        if _next_member(job, tar) is not None:
            raise UnsafeArchive(archive=label, reason=changed)
    return written
