"""Identical files on object stores: found by digest in the install records, placed server-side.

Object stores have no hard links, so every version keeps its own object and ``remove`` stays as
it is. What is shared is the transfer: a file whose digest the plan knows and another installed
version of the same store already holds is not downloaded from the origin and not uploaded from
this machine.

1. :meth:`SharedCopies.find` looks the plan's digest (sha256, or the git blob id a Hub record
   names a regular file by) up in an index of the store's install records, built once per
   install, and reads the object's current size and ETag.
2. The origin tier reads that object into staging (:func:`read_stored_copy`), hashing it, and
   checks the digests like any download; the install step then checks the file like any other.
3. At the commit, the object backend places the file with a server-side copy of that same object
   (:func:`place_copy`; s3fs does ``CopyObject``) instead of uploading it, and accepts the copy
   only when its stored size and ETag are the source's; otherwise it uploads the staged bytes.

The copy lands under the new generation before the record is written, like an upload: a crash
before the record leaves an orphaned generation for ``cache-prune``, never a half-installed
version.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch._cancel import check_cancelled
from model_fetch._log import get_logger
from model_fetch.storage._objects import PART_SIZE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from model_fetch._models import RemoteFile
    from model_fetch.storage._layout import Layout
    from model_fetch.storage._record import InstallRecord
    from model_fetch.transfer import FetchOutcome

__all__ = ["SharedCopies", "StoredCopy", "place_copy", "read_stored_copy"]

log = get_logger(__name__)

_GIT_OID: Final = 40
#: Ranges read at once from a stored copy (as the mirror's copy does).
_READERS: Final = 4


@attrs.frozen(kw_only=True)
class StoredCopy:
    """An installed object that holds a planned file's bytes.

    Attributes:
        path: The object's path on the store's filesystem.
        size: Its size, as its install record says and the store reported.
        sha256: Its sha256, as its install record says.
        etag: The store's ETag of it when it was found (None where the store has none).
    """

    path: str
    size: int
    sha256: str
    etag: str | None


class SharedCopies:
    """The digest index of one object store, and the copies noted for each install.

    Args:
        fs: The store's fsspec filesystem.
        layout: The store's paths.
    """

    def __init__(self, fs: Any, layout: Layout) -> None:
        """Nothing is read until the first lookup."""
        self._fs = fs
        self._layout = layout
        self._lock = threading.Lock()
        self._indexes: dict[str, dict[tuple[str, str], StoredCopy]] = {}
        self._noted: dict[str, dict[str, StoredCopy]] = {}

    def find(
        self, staging: str, remote: RemoteFile, records: Iterable[InstallRecord]
    ) -> StoredCopy | None:
        """An installed object holding ``remote``'s bytes by a digest the plan knows, or None.

        The index of ``records`` is built on the first lookup of an install (``staging``) and
        kept until its commit or discard.
        """
        digests = {checksum.algorithm: checksum.hexdigest for checksum in remote.checksums}
        if not digests.keys() & {"sha256", "git-blob-sha1"}:
            return None
        with self._lock:
            index = self._indexes.get(staging)
        if index is None:
            try:
                index = self._index(records)
            except Exception as exc:  # noqa: BLE001 - sharing is an optimisation: never fail on it
                log.info("Not looking for identical files in the store: %s", exc)
                index = {}
            with self._lock:
                self._indexes[staging] = index
        for algorithm in ("sha256", "git-blob-sha1"):
            found = index.get((algorithm, digests.get(algorithm, "")))
            if found is not None and remote.size in {None, found.size}:
                return self._fresh(found)
        return None

    def _index(self, records: Iterable[InstallRecord]) -> dict[tuple[str, str], StoredCopy]:
        index: dict[tuple[str, str], StoredCopy] = {}
        for record in records:
            base = self._layout.generation_dir(record.name, record.version, record.generation)
            for file in record.files:
                copy = StoredCopy(
                    path=self._layout.join_rel(base, file.path),
                    size=file.size,
                    sha256=file.sha256,
                    etag=None,
                )
                index.setdefault(("sha256", file.sha256), copy)
                etag = record.etags.get(file.path)
                if etag is not None and len(etag) == _GIT_OID:
                    index.setdefault(("git-blob-sha1", etag), copy)
        return index

    def _fresh(self, copy: StoredCopy) -> StoredCopy | None:
        """The copy with the store's ETag now, or None when it is gone or not its size."""
        try:
            info = self._fs.info(copy.path, refresh=True)
        except TypeError:  # pragma: no cover - filesystems without refresh=
            info = self._fs.info(copy.path)
        except (FileNotFoundError, OSError):
            return None
        if int(info.get("size", -1)) != copy.size:
            return None
        etag = info.get("ETag")
        return attrs.evolve(copy, etag=str(etag) if etag else None)

    def note(self, staging: str, rel: str, copy: StoredCopy) -> None:
        """Remember that the staged file ``rel`` may be placed by copying ``copy`` at commit."""
        with self._lock:
            self._noted.setdefault(staging, {})[rel] = copy

    def take(self, staging: str) -> dict[str, StoredCopy]:
        """The copies noted for one install, forgetting them and its index."""
        with self._lock:
            self._indexes.pop(staging, None)
            return self._noted.pop(staging, {})


def read_stored_copy(
    fs: Any,
    copy: StoredCopy,
    dest: str,
    remote: RemoteFile,
    *,
    on_position: Callable[[int], None],
    cancel: threading.Event | None,
) -> FetchOutcome:
    """Read a stored copy into a staging file, hashing it for every digest the plan knows.

    Raises:
        OSError: The object could not be read whole (it changed or went away).
    """
    from model_fetch.transfer import FsspecRangeReader, RangeFailed, copy_object  # noqa: PLC0415

    try:
        return copy_object(
            FsspecRangeReader(fs, copy.path, block=PART_SIZE),
            dest,
            size=copy.size,
            checksums=remote.checksums,
            on_position=on_position,
            cancel=cancel,
            connections=_READERS,
            segment_size=PART_SIZE,
        )
    except RangeFailed as exc:
        raise OSError(f"{copy.path}: {exc.reason}") from exc


def place_copy(
    fs: Any, copy: StoredCopy, target: str, *, cancel: threading.Event | None = None
) -> bool:
    """Copy a stored object to ``target`` on the server, and check the copy.

    The source's bytes were verified when they were read into staging; the copy is accepted
    only when the store reports the source's size and (where it has ETags) the source's ETag
    for it, so it holds those bytes. On s3fs the ETag is preserved across multipart objects
    (``preserve_etag``), as a plain ``CopyObject`` preserves it for single-part ones.

    Returns:
        Whether ``target`` now holds the bytes; on False nothing is left at ``target``.
    """
    check_cancelled(cancel)
    options = {"preserve_etag": True} if hasattr(fs, "call_s3") else {}
    try:
        fs.copy(copy.path, target, **options)
        info = fs.info(target, refresh=True) if options else fs.info(target)
    except Exception as exc:  # noqa: BLE001 - any failure means: upload instead
        log.info("Server-side copy of %s failed (%s); uploading it", copy.path, exc)
        _remove(fs, target)
        return False
    etag = info.get("ETag")
    if int(info.get("size", -1)) != copy.size or (
        copy.etag is not None and etag and str(etag) != copy.etag
    ):
        log.info(
            "The server-side copy of %s is not the source's (size %s, ETag %s); uploading it",
            copy.path,
            info.get("size"),
            etag,
        )
        _remove(fs, target)
        return False
    return True


def _remove(fs: Any, path: str) -> None:
    with contextlib.suppress(Exception):
        fs.rm_file(path)
