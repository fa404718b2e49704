"""The pipeline's install step: unpack archives in the staging area, then check readiness.

It runs after every file was downloaded and verified, inside the staging directory, before the
commit. Nothing here writes outside the staging area: archives are extracted into a fresh,
empty scratch directory beside it and their files are moved in only once the whole archive
passed.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from model_fetch._log import get_logger
from model_fetch._models import FileRecord
from model_fetch.exceptions import InsufficientStorage
from model_fetch.install.checks import Readiness, check_model
from model_fetch.install.extract import UnsafeArchive, archive_kind, extract

if TYPE_CHECKING:
    from collections.abc import Sequence

    from model_fetch._models import DownloadOptions
    from model_fetch.install.checks import Verifier

__all__ = ["InstallOutcome", "install_step"]

log = get_logger(__name__)

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@attrs.frozen(kw_only=True)
class InstallOutcome:
    """What the install step made of the downloaded files.

    Attributes:
        files: The files to install (extracted files replace their archive, which stays only
            with ``cleanup_temp_files=false``).
        archives: Archives kept beside the installed files.
        readiness: The outcome of the model checks.
    """

    files: tuple[FileRecord, ...]
    archives: tuple[str, ...]
    readiness: Readiness


def _staged(staging: Path, rel: str) -> Path:
    return staging.joinpath(*rel.split("/"))


def _unpack(staging: Path, record: FileRecord, kind: str) -> list[FileRecord]:
    """Extract one archive next to itself; return the records of the files it held."""
    archive = _staged(staging, record.path)
    parent_rel = record.path.rpartition("/")[0]
    # Named after the staging directory, so it belongs to the staging's lock (and is reclaimed
    # with it when this process dies mid-extraction).
    scratch = Path(tempfile.mkdtemp(prefix=f"{staging.name}.extract-", dir=staging.parent))
    try:
        try:
            extracted = extract(archive, scratch, kind=kind)
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise InsufficientStorage(
                    f"Insufficient storage space: the disk filled up while extracting "
                    f"{record.path}",
                    required_bytes=None,
                    available_bytes=0,
                ) from exc
            raise
        records = []
        for item in extracted:
            rel = f"{parent_rel}/{item.path}" if parent_rel else item.path
            target = _staged(staging, rel)
            if target.exists():
                raise UnsafeArchive(
                    archive=record.path,
                    member=item.path,
                    reason=f"it would overwrite {rel}, which is already part of the model",
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(_staged(scratch, item.path), target)
            records.append(FileRecord(path=rel, size=item.size, sha256=item.sha256))
        log.info("Extracted %d file(s) from %s", len(records), record.path)
        return records
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def install_step(
    staging: str,
    records: list[FileRecord],
    options: DownloadOptions,
    *,
    verifiers: Sequence[Verifier] | None = None,
) -> InstallOutcome:
    """Unpack archives (if asked) and decide readiness for a staged, verified download.

    Args:
        staging: The staging directory holding exactly the downloaded files.
        records: The downloaded files.
        options: ``extract_after_download``, ``cleanup_temp_files``, ``allow_torchscript`` and
            ``accept_files``.
        verifiers: The verifiers that decide readiness. None (the default) means every
            verifier registered at the time of the call
            (:func:`~model_fetch.install.available_verifiers`: the built-in checks, then the
            plugins).

    Returns:
        The files to install, the archives kept, and the readiness.

    Raises:
        UnsafeArchive: An archive breaks a rule; nothing is installed (400).
        InsufficientStorage: The disk filled up during extraction (413).
    """
    root = Path(staging)
    files: list[FileRecord] = []
    archives: list[str] = []
    for record in records:
        kind = (
            archive_kind(_staged(root, record.path), record.path)
            if options.extract_after_download
            else None
        )
        if kind is None:
            files.append(record)
            continue
        files.extend(_unpack(root, record, kind))
        if options.cleanup_temp_files:
            _staged(root, record.path).unlink()
        else:
            files.append(record)
            archives.append(record.path)
    weights = [_staged(root, file.path) for file in files if file.path not in archives]
    readiness = check_model(
        weights,
        allow_torchscript=options.allow_torchscript,
        verifiers=verifiers,
        accept=options.accept_files or (),
    )
    return InstallOutcome(files=tuple(files), archives=tuple(archives), readiness=readiness)
