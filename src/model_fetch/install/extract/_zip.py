"""The zip reader: entries checked (types, flags, methods, layout) before any is written."""

from __future__ import annotations

import stat
import struct
import zipfile
from typing import TYPE_CHECKING, Final

from model_fetch.install.extract import _write
from model_fetch.install.extract._codecs import decoding
from model_fetch.install.extract._plan import Plan
from model_fetch.install.extract._values import UnsafeArchive

if TYPE_CHECKING:
    from pathlib import Path

    from model_fetch.install.extract._plan import Job
    from model_fetch.install.extract._values import ExtractedFile

__all__ = ["extract_zip"]

_ZIP_LOCAL_HEADER: Final = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_ZIP_ENCRYPTED: Final = 0x1
_ZIP_METHODS: Final = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA},
)


def _check_zip_info(label: str, info: zipfile.ZipInfo) -> None:
    raw = info.orig_filename

    def refuse(reason: str) -> UnsafeArchive:
        return UnsafeArchive(archive=label, member=raw, reason=reason)

    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise refuse("it is a symbolic link")
    if kind not in {0, stat.S_IFREG, stat.S_IFDIR}:
        raise refuse("it is neither a regular file nor a directory")
    if kind == stat.S_IFDIR and not info.is_dir():
        raise refuse("its mode says directory but its name does not end in '/'")
    if kind == stat.S_IFREG and info.is_dir():
        raise refuse("its mode says regular file but its name ends in '/'")
    if info.flag_bits & _ZIP_ENCRYPTED:
        raise refuse("it is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise refuse(f"it uses the unsupported compression method {info.compress_type}")
    name = raw.replace("\\", "/")
    if name == "data.pkl" or name.endswith("/data.pkl"):
        raise refuse("a data.pkl record makes this a model file (torch zip), not an archive")


def _check_zip_layout(label: str, path: Path, zf: zipfile.ZipFile) -> None:
    """Refuse entries whose data overlap each other or the central directory (zip bombs)."""
    end_of_previous = 0
    previous: str | None = None
    with decoding(label, None), path.open("rb") as fh:
        for info in sorted(zf.infolist(), key=lambda item: item.header_offset):
            fh.seek(info.header_offset)
            header = fh.read(_ZIP_LOCAL_HEADER.size)
            if len(header) != _ZIP_LOCAL_HEADER.size:
                raise zipfile.BadZipFile("truncated local file header")
            signature, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack(header)
            if signature != b"PK\x03\x04":
                raise zipfile.BadZipFile("bad local file header signature")
            if info.header_offset < end_of_previous:
                reason = f"its data overlap those of {previous!r} (an overlapping zip bomb?)"
                raise UnsafeArchive(archive=label, member=info.orig_filename, reason=reason)
            end_of_previous = (
                info.header_offset
                + _ZIP_LOCAL_HEADER.size
                + name_length
                + extra_length
                + info.compress_size
            )
            previous = info.orig_filename
    if previous is not None and end_of_previous > zf.start_dir:
        reason = "its data overlap the central directory"
        raise UnsafeArchive(archive=label, member=previous, reason=reason)


def extract_zip(job: Job) -> list[ExtractedFile]:
    label, limits = job.label, job.limits
    with decoding(label, None):
        zf = zipfile.ZipFile(job.path)
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            reason = f"it has more than max_members ({limits.max_members}) members"
            raise UnsafeArchive(archive=label, reason=reason)
        plan = Plan(label, limits, job.archive_size)
        for info in infos:
            _check_zip_info(label, info)
            plan.add(info.orig_filename, is_dir=info.is_dir(), size=info.file_size)
        plan.finish()
        _check_zip_layout(label, job.path, zf)

        budget = _write.Budget(label, limits, job.archive_size)
        written: list[ExtractedFile] = []
        for info, entry in zip(infos, plan.entries, strict=True):
            if entry is None:
                continue
            target = _write.make_entry_dirs(label, job.dest, entry)
            if target is None:
                continue
            with decoding(label, info.orig_filename):
                src = zf.open(info)
            with src:
                result = _write.copy_member(
                    src,
                    target,
                    member=entry.path,
                    budget=budget,
                    compressed=info.compress_size,
                )
            if result.size != info.file_size:
                reason = f"{result.size} bytes were read but the header says {info.file_size}"
                raise UnsafeArchive(archive=label, member=info.orig_filename, reason=reason)
            written.append(result)
    return written
