"""The object backend: a store on any fsspec filesystem that is not a local disk.

Object stores have no rename and no lock. Files are staged and verified locally
(``MODEL_FETCH_STAGING``), uploaded under a new generation with bounded-memory multipart uploads,
their stored sizes checked, and the record written last with a conditional write: switching the
record is the commit. The (name, version) lock is a :class:`~model_fetch.storage.Lease` where the
filesystem does conditional writes, a local lock file otherwise (then only the processes of this
machine are excluded). Replaced generations are retired (see :mod:`model_fetch.storage._sweep`).
A staged file that another installed version already holds is placed by a server-side copy
instead of an upload (see :mod:`model_fetch.storage._shared`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING, Any

from model_fetch._log import get_logger
from model_fetch._paths import validate_relpath
from model_fetch.exceptions import ModelFetchError, StoreUnavailable
from model_fetch.storage._layout import Layout, lock_key, store_key
from model_fetch.storage._lease import Lease
from model_fetch.storage._locks import local_lock
from model_fetch.storage._objects import (
    Conditional,
    bucket_of,
    check_bucket,
    store_unavailable,
    upload_file,
)
from model_fetch.storage._record import load_record
from model_fetch.storage._shared import SharedCopies, place_copy
from model_fetch.storage._sweep import Sweeper

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator

    from model_fetch._config import Settings
    from model_fetch._paths import RelPath
    from model_fetch.storage._locks import StoreLock
    from model_fetch.storage._record import InstallRecord

__all__ = ["ObjectBackend"]

log = get_logger(__name__)


class ObjectBackend:
    """A store on an object store (s3://, gs://, ...) or another non-local fsspec filesystem.

    Args:
        fs: The fsspec filesystem.
        path: The root on it, as fsspec split it from the store's URL.
        settings: The downloader's settings (lease time, staging directory).
    """

    local = False

    def __init__(self, fs: Any, path: str, settings: Settings) -> None:
        """Nothing is read until the first operation."""
        self.fs = fs
        root = path.rstrip("/")
        self.layout = Layout(root, local=False)
        self.url: str = fs.unstrip_protocol(root)
        self._settings = settings
        self._available = False
        self._conditional: bool | None = None
        self._sweeper = Sweeper(fs, self.layout, settings.lease_ttl)
        #: The files each install may place by a server-side copy (noted by the origin tier).
        self.shared = SharedCopies(fs, self.layout)

    @property
    def object_store(self) -> bool:
        """Whether the filesystem has buckets (s3://, gs://, ...)."""
        return bucket_of(self.fs, self.layout.root) is not None

    def display(self, path: str) -> str:
        """A path as a URL."""
        shown: str = self.fs.unstrip_protocol(path)
        return shown

    def meta_dir(self, kind: str) -> str:
        """A directory per store URL under ``MODEL_FETCH_STAGING`` (or the user cache)."""
        from model_fetch._config import default_home  # noqa: PLC0415

        base = self._settings.staging or os.path.join(default_home(), "remote-stores")
        return os.path.join(os.path.expanduser(base), store_key(self.url), kind)

    def disk(self) -> str:
        """An object store has no size; what fills up is the local staging directory."""
        return self.meta_dir(".staging")

    def ensure_available(self) -> None:
        """Check once that the bucket exists and can be read.

        Raises:
            StoreUnavailable: The bucket is missing (it is never created) or access is denied.
        """
        if self._available:
            return
        check_bucket(self.fs, self.layout.root, self.url)
        self._available = True

    def supports_conditional_writes(self) -> bool:
        """Probe (once) whether the filesystem does conditional create and replace."""
        if self._conditional is None:
            self.ensure_available()
            try:
                self._conditional = Conditional(self.fs).probe(self.layout.leases_dir)
            except ModelFetchError:
                raise
            except Exception as exc:
                raise store_unavailable(self.url, exc) from exc
        return self._conditional

    def size(self, path: str) -> int:
        """The stored size of one object."""
        size: int = self.fs.size(path)
        return size

    def accessed_at(self, marker: str) -> float | None:  # noqa: ARG002 - no markers here
        """Object stores keep no access marker (a write per reuse would cost too much)."""
        return None

    def touch(self, marker: str) -> None:
        """Object stores keep no access marker."""

    def read_small(self, path: str) -> bytes:
        """One GET of the whole object."""
        with self.fs.open(path, "rb") as handle:
            data: bytes = handle.read()
        return data

    def write_small(self, path: str, data: bytes, *, scratch: str | None = None) -> None:  # noqa: ARG002
        """One PUT: the object appears whole (no temporary name, so no scratch)."""
        self.fs.pipe_file(path, data)

    def rm_tree(self, path: str) -> None:
        """Delete every object under a prefix."""
        self.fs.rm(path, recursive=True)

    def commit(
        self,
        staging: str,
        record: InstallRecord,
        document: bytes,
        *,
        on_upload: Callable[[int], None],
        guard: Callable[[], None],
        cancel: threading.Event | None,
        keep_staging: bool,
    ) -> None:
        """Upload the staged files, write the record last, retire the replaced generation."""
        self.ensure_available()
        layout = self.layout
        target = layout.generation_dir(record.name, record.version, record.generation)
        record_path = layout.record_path(record.name, record.version)
        uploaded: list[str] = []
        noted = self.shared.take(staging)
        digests = {file.path: (file.size, file.sha256) for file in record.files}
        try:
            for local, rel in _staged_files(staging):
                remote = f"{target}/{rel}"
                uploaded.append(remote)
                copy = noted.get(rel)
                # The record vouches for the staged file: only a copy of the same bytes stands in.
                if (
                    copy is not None
                    and digests.get(rel) == (copy.size, copy.sha256)
                    and os.path.getsize(local) == copy.size
                    and place_copy(self.fs, copy, remote, cancel=cancel)
                ):
                    log.debug("%s: placed by a server-side copy of %s", rel, copy.path)
                    on_upload(copy.size)
                    continue
                upload_file(self.fs, local, remote, on_bytes=on_upload, cancel=cancel)
            guard()
            previous = self._write_record(record_path, document)
        except BaseException as exc:
            # Nothing was committed: the new generation's objects go, the old record stays.
            for remote in uploaded:
                with contextlib.suppress(Exception):
                    self.fs.rm_file(remote)
            if isinstance(exc, Exception) and not isinstance(exc, ModelFetchError):
                raise store_unavailable(self.url, exc) from exc
            raise
        self._sweeper.retire(record, previous)
        if not keep_staging:
            shutil.rmtree(staging, ignore_errors=True)

    def _write_record(self, path: str, document: bytes) -> InstallRecord | None:
        """Write the record: created if absent, else replaced only if unchanged since read.

        Returns:
            The record that was replaced, or None.
        """
        conditional = Conditional(self.fs)
        if not self.supports_conditional_writes():
            previous = load_record(self.fs, path)
            self.fs.pipe_file(path, document)
            return previous
        for _attempt in range(3):
            info = conditional.head(path)
            if info is None:
                try:
                    conditional.create(path, document)
                except FileExistsError:
                    continue
                return None
            previous = load_record(self.fs, path)
            try:
                conditional.replace(path, document, str(info.get("ETag")))
            except (FileNotFoundError, OSError):
                continue
            return previous
        raise StoreUnavailable(
            f"The install record {self.display(path)} kept changing while it was being written",
            url=self.url,
        )

    def lock(self, name: str, version: str) -> StoreLock:
        """A lease where the filesystem does conditional writes, else a local lock file."""
        key = lock_key(name, version)
        if self.supports_conditional_writes():
            return self.lease(f"{key}.json", what=f"{name!r} version {version!r} in {self.url}")
        return local_lock(self.meta_dir(".locks"), name, version, key)

    def lease(self, file: str, *, what: str) -> Lease:
        """A lease object under ``.leases/``."""
        return Lease(self.fs, self.layout.lease_path(file), self._settings.lease_ttl, what=what)

    def prune(self, older_than: float | None) -> dict[str, int]:
        """Clear expired leases, orphaned generations and abandoned uploads (store's clock)."""
        self.ensure_available()
        now = self._sweeper.store_now()
        if now is None:
            return {"expired_leases": 0, "orphaned_generations": 0, "abandoned_uploads": 0}
        return self._sweeper.prune(now, older_than or 86400.0)

    def close(self) -> None:
        """Cancel deferred deletions (cache-prune or a later install finishes them)."""
        self._sweeper.close()


def _staged_files(staging: str) -> Iterator[tuple[str, RelPath]]:
    """Every file of a staging directory: (local path, validated relative POSIX path)."""
    for dirpath, _dirs, files in os.walk(staging):
        for file in sorted(files):
            local = os.path.join(dirpath, file)
            yield local, validate_relpath(os.path.relpath(local, staging).replace(os.sep, "/"))
