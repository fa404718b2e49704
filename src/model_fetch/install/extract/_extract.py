"""The entry point: the destination, the kind and the job, then the reader for that kind."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from model_fetch.install.extract import _write
from model_fetch.install.extract._codecs import decoding, open_decompressed
from model_fetch.install.extract._kinds import (
    ARCHIVE_KINDS,
    CODEC,
    SUFFIXES,
    archive_kind,
    inspect_archive,
)
from model_fetch.install.extract._plan import Job, check_name
from model_fetch.install.extract._tar import extract_tar
from model_fetch.install.extract._values import DEFAULT_LIMITS, UnsafeArchive
from model_fetch.install.extract._zip import extract_zip

if TYPE_CHECKING:
    from pathlib import Path

    from model_fetch.install.extract._values import ExtractedFile, ExtractLimits

__all__ = ["extract"]


def extract_single(job: Job, output_name: str | None) -> list[ExtractedFile]:
    label = job.label
    name = output_name
    if name is None:
        lower = label.lower()
        for suffix, suffix_kind in SUFFIXES:
            if suffix_kind == job.kind and lower.endswith(suffix) and len(label) > len(suffix):
                name = label[: -len(suffix)]
                break
        else:
            reason = f"the name does not end in .{job.kind}; pass output_name"
            raise UnsafeArchive(archive=label, reason=reason)
    if "/" in name:
        raise UnsafeArchive(archive=label, member=name, reason="output_name must be one segment")
    checked = check_name(label, name, is_dir=False, limits=job.limits)
    if checked is None:  # pragma: no cover - only directories map to None
        raise UnsafeArchive(archive=label, member=name, reason="the output name is empty")
    budget = _write.Budget(label, job.limits, job.archive_size)
    with contextlib.ExitStack() as stack:
        with decoding(label, None):
            src = open_decompressed(stack, job.path, CODEC[job.kind])
        return [_write.copy_member(src, job.dest / checked, member=checked, budget=budget)]


def _check_dest(label: str, dest: Path) -> None:
    if dest.is_symlink() or not dest.is_dir():
        reason = f"the destination {str(dest)!r} is not an existing directory"
        raise UnsafeArchive(archive=label, reason=reason)
    with os.scandir(dest) as entries:
        if next(entries, None) is not None:
            reason = f"the destination {str(dest)!r} is not empty"
            raise UnsafeArchive(archive=label, reason=reason)


def extract(
    archive: Path,
    dest: Path,
    *,
    kind: str | None = None,
    limits: ExtractLimits = DEFAULT_LIMITS,
    output_name: str | None = None,
) -> list[ExtractedFile]:
    """Extract an archive into an empty directory, refusing anything unsafe as a whole.

    Every member is checked before anything is written (see the module documentation), the bytes
    actually written are counted against ``limits``, and on any failure everything written under
    ``dest`` is removed again.

    Args:
        archive: The archive file.
        dest: An existing, empty directory (a fresh staging directory) to extract into.
        kind: One of :data:`ARCHIVE_KINDS`; found by :func:`archive_kind` from the file's name
            and bytes when None. A given kind must still agree with the bytes.
        limits: The limits on what the archive may write.
        output_name: The file name for a single-file stream (``gz``, ``bz2``, ``xz``, ``zst``);
            defaults to the archive's name without its suffix. Ignored for zip and tar.

    Returns:
        Every regular file written, in archive order, with its size and SHA-256.

    Raises:
        UnsafeArchive: The destination is not an empty directory; the file is not an archive (or
            is a model file); its name and bytes disagree; a member is unsafe; a limit was
            exceeded; or the data are corrupt. Nothing is left under ``dest``.
        OSError: Writing under ``dest`` failed (a full disk, for example); nothing is left there.
    """
    label = archive.name
    _check_dest(label, dest)
    if kind is None:
        kind = archive_kind(archive)
        if kind is None:
            reason = "it is not an archive (by its name), or it is a model file"
            raise UnsafeArchive(archive=label, reason=reason)
    elif kind not in ARCHIVE_KINDS:
        reason = f"unknown archive kind {kind!r}; expected one of {', '.join(ARCHIVE_KINDS)}"
        raise UnsafeArchive(archive=label, reason=reason)
    elif inspect_archive(archive, label, kind):
        reason = "it is a model file (a torch zip holding data.pkl), not an archive"
        raise UnsafeArchive(archive=label, reason=reason)
    with decoding(label, None):
        archive_size = archive.stat().st_size
    job = Job(
        path=archive,
        dest=dest,
        label=label,
        kind=kind,
        limits=limits,
        archive_size=archive_size,
    )
    try:
        if kind == "zip":
            return extract_zip(job)
        if kind.startswith("tar"):
            return extract_tar(job)
        return extract_single(job, output_name)
    except BaseException:
        _write.clear(dest)
        raise
