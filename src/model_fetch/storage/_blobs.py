"""Identical files stored once: the content-addressed blobs of a local store.

In model_fetch's own layout every installed file is also hard-linked as ``blobs/sha256/<hex>``
(and as ``blobs/git-blob-sha1/<oid>`` where the source names it by its git blob id, as the Hub
does for regular files, whose sha256 is not known before they are fetched);
a later install of a file with that sha256 replaces its staged copy by a link to the blob, so the
bytes are on disk once however many versions or models hold them. A blob's link count is its
reference count: once only the ``blobs/`` entries are left, no version uses it and ``remove`` frees
it. In a hf-cache store the blobs are huggingface_hub's own (``models--*/blobs/<etag>``).

Before a transfer, :func:`find_copy` tells the origin tier where the bytes of a file whose digest
the plan knows already are, so they are read from the disk (and verified again) instead of
downloaded.
"""

from __future__ import annotations

import contextlib
import filecmp
import glob
import os
from typing import TYPE_CHECKING, Final

from model_fetch._log import get_logger

if TYPE_CHECKING:
    from model_fetch._models import FileRecord, RemoteFile

__all__ = ["BLOBS_DIR", "find_copy", "find_hf_copy", "link_blobs", "release_blobs"]

log = get_logger(__name__)

#: The blobs directory of model_fetch's own layout (a name no escaped model name takes).
BLOBS_DIR: Final = "blobs"
_GIT_OID: Final = 40


def _blob(root: str, sha256: str, algorithm: str = "sha256") -> str:
    return os.path.join(root, BLOBS_DIR, algorithm, sha256)


def _digest(remote: RemoteFile, *algorithms: str) -> str | None:
    found = {checksum.algorithm: checksum.hexdigest for checksum in remote.checksums}
    for algorithm in algorithms:
        if algorithm in found:
            return found[algorithm]
    return None


def _fits(path: str, size: int | None) -> bool:
    try:
        actual = os.path.getsize(path)
    except OSError:
        return False
    return size is None or actual == size


def find_copy(root: str, remote: RemoteFile) -> str | None:
    """The blob of model_fetch's layout holding ``remote``'s bytes, or None."""
    for algorithm in ("sha256", "git-blob-sha1"):
        digest = _digest(remote, algorithm)
        if digest is not None:
            blob = _blob(root, digest, algorithm)
            if _fits(blob, remote.size):
                return blob
    return None


def find_hf_copy(root: str, remote: RemoteFile) -> str | None:
    """A blob of any repository of a Hugging Face cache holding ``remote``'s bytes, or None.

    A Hub etag names content (a git blob id, or an LFS file's sha256), so a blob of another
    repository with the same name holds the same bytes.
    """
    etag = _digest(remote, "git-blob-sha1", "sha256")
    if etag is None:
        return None
    for blob in sorted(glob.glob(os.path.join(glob.escape(root), "models--*", "blobs", etag))):
        if _fits(blob, remote.size):
            return blob
    return None


def link_blobs(
    root: str,
    generation: str,
    files: tuple[FileRecord, ...],
    etags: dict[str, str],
    scratch: str,
) -> None:
    """Share each committed file with its blob: link to an existing one, or become it.

    Each link is made in ``scratch`` and renamed into place, so a process killed between the two
    leaves its half-made link there, in a directory its staging lock covers (reclaimed once the
    lock is free), never in ``blobs/`` or in the generation. Failures only cost space (a
    filesystem without hard links keeps separate copies).
    """
    for index, file in enumerate(files):
        _link_one(root, generation, file, os.path.join(scratch, f"{index}.link"))
        etag = etags.get(file.path)
        if etag is not None and len(etag) == _GIT_OID:
            path = os.path.join(generation, *file.path.split("/"))
            alias = _blob(root, etag, "git-blob-sha1")
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(alias), exist_ok=True)
                if not (os.path.exists(alias) and os.path.samefile(alias, path)):
                    tmp = os.path.join(scratch, f"{index}.alias.link")
                    os.link(path, tmp)
                    os.replace(tmp, alias)


def _link_one(root: str, generation: str, file: FileRecord, tmp: str) -> None:
    """Replace one committed file by a link to its blob, or make it the blob."""
    path = os.path.join(generation, *file.path.split("/"))
    blob = _blob(root, file.sha256)
    try:
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        if os.path.exists(blob) and os.path.samefile(blob, path):
            return
        # The new file was verified; the blob is linked to only while it holds the same bytes.
        if _fits(blob, file.size) and filecmp.cmp(blob, path, shallow=False):
            os.link(blob, tmp)
            os.replace(tmp, path)
        else:
            os.link(path, tmp)
            os.replace(tmp, blob)
    except OSError as exc:
        log.debug("Not sharing %s with its blob: %s", path, exc)


def release_blobs(root: str, files: tuple[FileRecord, ...], etags: dict[str, str]) -> None:
    """Free the blobs of removed files that no installed version links to any more."""
    for file in files:
        entries = [_blob(root, file.sha256)]
        etag = etags.get(file.path)
        if etag is not None and len(etag) == _GIT_OID:
            entries.append(_blob(root, etag, "git-blob-sha1"))
        with contextlib.suppress(OSError):
            info = os.stat(entries[0])
            own = [e for e in entries if os.path.exists(e) and os.path.samefile(e, entries[0])]
            if info.st_nlink <= len(own):
                for entry in own:
                    os.unlink(entry)
