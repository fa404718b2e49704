"""The model store: one front over a backend, with the layout, records, refs and space figures.

A new download, even a forced one, lands in a fresh generation directory; switching the install
record to it is the only visible step, so a reader sees the old files or the new ones, never a
mix. Old generations are removed after the switch (on an object store, no sooner than one lease
time later, because readers there cannot hold a file open across a deletion). The paths are in
:mod:`model_fetch.storage._layout`; how a commit and a lock work on each kind of filesystem is
the backend's (:mod:`~model_fetch.storage._local`, :mod:`~model_fetch.storage._object`).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import attrs

from model_fetch._paths import validate_relpath
from model_fetch.exceptions import StoreUnavailable
from model_fetch.storage._blobs import find_copy, find_hf_copy, release_blobs
from model_fetch.storage._catalog import Catalog
from model_fetch.storage._hfcache import HfCacheBackend
from model_fetch.storage._hflayout import hf_cache_root
from model_fetch.storage._layout import REFS_DIR, new_generation, partial_key
from model_fetch.storage._local import LocalBackend
from model_fetch.storage._record import encode_record
from model_fetch.storage._refs import Refs
from model_fetch.storage._shared import read_stored_copy
from model_fetch.storage._space import Space, no_room
from model_fetch.storage._staging import StagingArea, tree_size

if TYPE_CHECKING:
    import datetime as dt
    import threading
    from collections.abc import Callable, Iterator

    from model_fetch._config import Settings
    from model_fetch._models import CacheInfo, RemoteFile
    from model_fetch.exceptions import InsufficientStorage
    from model_fetch.storage._backend import Backend
    from model_fetch.storage._lease import Lease
    from model_fetch.storage._locks import StoreLock
    from model_fetch.storage._object import ObjectBackend
    from model_fetch.storage._record import InstallRecord
    from model_fetch.storage._shared import StoredCopy
    from model_fetch.transfer import FetchOutcome, PartialFile

__all__ = ["Store"]


class Store:
    """A model store on any fsspec filesystem, with fast paths for local disks.

    Args:
        root: A local path or an fsspec URL (``s3://bucket/models``, ``memory://store``).
        settings: The downloader's settings (quota, lock timeout).
        storage_options: Options passed to the fsspec filesystem (credentials, endpoint).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        settings: Settings,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        """Open the store; the root directory is created on first write."""
        text = os.fspath(root)
        hf_root = hf_cache_root(text)
        self.backend: Backend
        if hf_root is not None:
            self.backend = HfCacheBackend(hf_root, storage_options)
        elif (local := _local_path(text)) is not None:  # no fsspec unless something reads `fs`
            self.backend = LocalBackend(local, storage_options)
        else:
            self.backend = _open_url(text, dict(storage_options or {}), settings)
        #: Whether the store is a Hugging Face cache (``store="hf-cache"``).
        self.hf_cache = hf_root is not None
        self.layout = self.backend.layout
        self.local = self.backend.local
        self.root = self.layout.root
        self.url = self.backend.url
        self._settings = settings
        self._refs = Refs(self.backend)
        self._catalog = Catalog(self.backend)
        self._staging = StagingArea(lambda: self.backend.meta_dir(".staging"))
        self._space = Space(self.backend, settings, self._catalog, self._staging)

    @property
    def fs(self) -> Any:
        """The store's fsspec filesystem (a local store imports fsspec when this is first read)."""
        return self.backend.fs

    # -- availability -------------------------------------------------------------------------
    def ensure_available(self) -> None:
        """On an object store, check once that the bucket exists and can be read.

        Raises:
            StoreUnavailable: The bucket is missing (it is never created) or access is denied.
        """
        self.backend.ensure_available()

    @property
    def object_store(self) -> bool:
        """Whether the store lives on an object store with buckets (s3://, gs://, ...)."""
        return self.backend.object_store

    def supports_conditional_writes(self) -> bool:
        """Probe (once) whether the filesystem does conditional create and replace."""
        return self.backend.supports_conditional_writes()

    def close(self) -> None:
        """Cancel deferred deletions (cache-prune or a later install finishes them)."""
        self.backend.close()

    # -- layout -------------------------------------------------------------------------------
    def version_dir(self, name: str, version: str) -> str:
        """The directory of one installed (name, version)."""
        return self.layout.version_dir(name, version)

    def record_path(self, name: str, version: str) -> str:
        """The install record's path."""
        return self.layout.record_path(name, version)

    def generation_dir(self, record: InstallRecord) -> str:
        """The directory holding a record's files."""
        return self.layout.generation_dir(record.name, record.version, record.generation)

    def display(self, path: str) -> str:
        """A path as users see it: local paths as they are, others as URLs."""
        return self.backend.display(path)

    def file_path(self, record: InstallRecord) -> str:
        """The contract's ``file_path``: the main file, or the model's directory."""
        base = self.generation_dir(record)
        if record.primary:
            base = self.layout.join_rel(base, record.primary)
        return self.display(base)

    def installed_path(self, record: InstallRecord, rel: str) -> str:
        """The path of one installed file of a record."""
        return self.layout.join_rel(self.generation_dir(record), validate_relpath(rel))

    def known_copy(self, remote: RemoteFile) -> str | None:
        """A local file already holding ``remote``'s bytes (by the digest the plan knows), or None.

        The origin tier reads such a file, verifying it again, instead of downloading it; the
        commit then shares one blob between both installs.
        """
        if isinstance(self.backend, HfCacheBackend):
            return find_hf_copy(self.root, remote)
        return find_copy(self.root, remote) if self.local else None

    def stored_copy(self, staging: str, remote: RemoteFile) -> StoredCopy | None:
        """On an object store: an installed object holding ``remote``'s bytes, or None.

        Found by a digest the plan knows, in the store's install records (read once per
        install). The origin tier reads it into ``staging`` instead of downloading it and, once
        the bytes are verified, :meth:`share` lets the commit copy it server-side.
        """
        backend = self._object_backend()
        if backend is None:
            return None
        return backend.shared.find(staging, remote, self._catalog.iter_records())

    def read_copy(
        self,
        copy: StoredCopy,
        dest: str,
        remote: RemoteFile,
        *,
        on_position: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> FetchOutcome:
        """Read a stored copy into a staging file, hashing it for the plan's digests."""
        return read_stored_copy(self.fs, copy, dest, remote, on_position=on_position, cancel=cancel)

    def share(self, staging: str, rel: str, copy: StoredCopy) -> None:
        """Let the commit place the staged file ``rel`` by a server-side copy of ``copy``."""
        if (backend := self._object_backend()) is not None:
            backend.shared.note(staging, rel, copy)

    def _object_backend(self) -> ObjectBackend | None:
        """The backend when it is an object store's; its module loads only then."""
        if self.backend.local:
            return None
        from model_fetch.storage._object import ObjectBackend  # noqa: PLC0415 - see above

        return self.backend if isinstance(self.backend, ObjectBackend) else None

    def local_cache_dir(self) -> str:
        """A local directory for caches (repository indexes) that belong to this store."""
        return self.backend.meta_dir(".cache")

    # -- records ------------------------------------------------------------------------------
    def read_record(self, name: str, version: str) -> InstallRecord | None:
        """Return the install record of (name, version), or None if it is not installed."""
        return self._catalog.read_record(name, version)

    def installed(self, name: str, version: str) -> InstallRecord | None:
        """The record of an intact install of (name, version), or None."""
        return self._catalog.installed(name, version)

    def is_intact(self, record: InstallRecord) -> bool:
        """Whether every file of the record exists with its recorded size."""
        return self._catalog.is_intact(record)

    def hash_file(self, record: InstallRecord, rel: str) -> tuple[int, str] | None:
        """Return (size, sha256) of one installed file, or None if it is missing."""
        return self._catalog.hash_file(record, rel)

    def iter_records(self) -> Iterator[InstallRecord]:
        """Yield every install record in the store (unordered)."""
        return self._catalog.iter_records()

    def last_accessed(self, record: InstallRecord) -> dt.datetime:
        """When the version was installed or last reused."""
        return self._catalog.last_accessed(record)

    def touch_accessed(self, record: InstallRecord) -> None:
        """Note that an installed version was just reused (local stores only)."""
        self._catalog.touch_accessed(record)

    # -- refs ---------------------------------------------------------------------------------
    def write_alias(self, name: str, ref: str, version: str) -> None:
        """Remember that ``ref`` (a branch, "latest") resolved to ``version``, for offline use.

        On a local disk the temporary name is made in a staging directory, so a process killed
        before its rename leaves nothing beside the refs (huggingface_hub would read it as a ref).
        """
        if not self.local:
            self._refs.write(name, ref, version)
            return
        with self._staging.scratch() as scratch:
            self._refs.write(name, ref, version, scratch=scratch)

    def read_alias(self, name: str, ref: str) -> str | None:
        """Return the version ``ref`` last resolved to, or None."""
        return self._refs.read(name, ref)

    def aliases(self, name: str) -> dict[str, str]:
        """Every ref of a model with the version it last resolved to."""
        return self._refs.of(name)

    # -- partial downloads and cleanup --------------------------------------------------------
    def partial(self, name: str, version: str, rel: str, url: str) -> PartialFile:
        """The resumable partial download of one file of one (name, version)."""
        from model_fetch.transfer import PartialFile  # noqa: PLC0415 - a cache hit needs none

        key = partial_key(name, version, rel, url)
        return PartialFile(self.backend.meta_dir(".partials"), key, url)

    def partials(self) -> list[tuple[str, int, float]]:
        """Every partial download kept: (path, bytes, last modified as a timestamp)."""
        return self._space.partials()

    def prune_partials(self, older_than: float | None = None) -> tuple[int, int]:
        """Delete partial downloads (only those untouched for ``older_than`` seconds, if given).

        Returns:
            How many partials were deleted and how many bytes that freed.
        """
        return self._space.prune_partials(older_than)

    def prune_objects(self, older_than: float | None = None) -> dict[str, int]:
        """On an object store: clear expired leases, orphaned generations, abandoned uploads.

        Ages are measured on the store's own clock (the LastModified of an object written
        now), never against this machine's clock.

        Args:
            older_than: Abort multipart uploads started this many seconds ago or earlier
                (default: one day, longer than any upload).

        Returns:
            How many expired leases, orphaned generations and abandoned uploads were removed.
        """
        return self.backend.prune(older_than)

    # -- staging and commit -------------------------------------------------------------------
    def new_staging(self) -> str:
        """Create and return a fresh, empty local staging directory, held until its end.

        Staging left by a dead process (its lock free) is reclaimed first.
        """
        return self._staging.new()

    def prune_staging(self) -> tuple[int, int]:
        """Delete staging directories whose process died (their lock is free).

        Returns:
            How many were deleted and how many bytes that freed.
        """
        return self._staging.reclaim()

    def staging_file(self, staging: str, rel: str) -> str:
        """The local path of a file inside a staging directory, creating its parents."""
        path = os.path.join(staging, *validate_relpath(rel).split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def commit(
        self,
        staging: str,
        record: InstallRecord,
        *,
        on_upload: Callable[[int], None] | None = None,
        guard: Callable[[], None] | None = None,
        cancel: threading.Event | None = None,
        keep_staging: bool = False,
    ) -> InstallRecord:
        """Move (or upload) a verified staging directory into place and write the record last.

        Args:
            staging: The local staging directory holding exactly the record's files.
            record: The record to commit; its ``generation`` is filled in here.
            on_upload: Called with the bytes of each part uploaded (object stores).
            guard: Called right before the record is written; raises to stop the commit (a
                holder that lost its lease stops there).
            cancel: Stops an upload with DownloadCancelled.
            keep_staging: Leave the staging directory in place (object stores only).

        Returns:
            The committed record.
        """
        record = attrs.evolve(record, generation=new_generation())
        self.backend.commit(
            staging,
            record,
            encode_record(record),
            on_upload=on_upload or _ignore,
            guard=guard or _nothing,
            cancel=cancel,
            keep_staging=keep_staging,
        )
        if not os.path.isdir(staging):  # it became the generation, or was uploaded and removed
            self._staging.finish(staging)
        return record

    def discard(self, staging: str) -> None:
        """Remove a staging directory after a failure (or once a kept one is done with)."""
        if (backend := self._object_backend()) is not None:
            backend.shared.take(staging)
        self._staging.discard(staging)

    def remove(self, record: InstallRecord) -> list[str]:
        """Uninstall one version: the record goes first, so a crash mid-way uninstalls it.

        Returns:
            The paths of the files that were deleted.
        """
        if isinstance(self.backend, HfCacheBackend):
            # Refs first: huggingface_hub counts a ref to a missing snapshot as corruption.
            self._refs.drop(record.name, record.version)
            return self.backend.remove_version(record)
        base = self.generation_dir(record)
        files = [self.display(self.layout.join_rel(base, file.path)) for file in record.files]
        self.fs.rm_file(self.record_path(record.name, record.version))
        self.backend.rm_tree(self.version_dir(record.name, record.version))
        if self.local:
            release_blobs(self.root, record.files, record.etags)
        self._refs.drop(record.name, record.version)
        name_dir = self.layout.name_dir(record.name)
        with contextlib.suppress(OSError):
            remaining = [
                entry
                for entry in self.fs.ls(name_dir, detail=False)
                if not entry.rstrip("/").endswith(f"/{REFS_DIR}")
            ]
            if not remaining:
                self.backend.rm_tree(name_dir)
        return files

    # -- locks --------------------------------------------------------------------------------
    def lock(self, name: str, version: str) -> StoreLock:
        """A cross-process lock for one (name, version); not yet acquired.

        A local file lock on local stores (and filesystems without conditional writes, which
        then only exclude processes on this machine); a lease object on object stores.
        """
        return self.backend.lock(name, version)

    def lease(self, name: str, *, what: str) -> Lease:
        """A lease object under ``.leases/`` (object stores with conditional writes)."""
        from model_fetch.storage._lease import Lease  # noqa: PLC0415 - object stores only

        return Lease(self.fs, self.layout.lease_path(name), self._settings.lease_ttl, what=what)

    # -- space --------------------------------------------------------------------------------
    def staging_usage(self) -> tuple[int, int]:
        """Bytes and entries held in the staging area."""
        return self._space.staging_usage()

    def capacity(self) -> tuple[int, int, int]:
        """Return (total, used, available) bytes, honouring the quota when one is set."""
        return self._space.capacity()

    def available(self) -> int | None:
        """Bytes that may still be written (on object stores: in the local staging directory)."""
        return self._space.available()

    def check_space(self, required: int, already_held: int = 0) -> None:
        """Raise InsufficientStorage if ``required`` more bytes do not fit.

        Args:
            required: Bytes the download needs in total.
            already_held: Bytes of it already written to staging (counted as used).
        """
        self._space.check_space(required, already_held)

    def check_quota(self, staging: str | None = None) -> None:
        """Raise InsufficientStorage if the store (staging included) is over its quota.

        Args:
            staging: The staging directory of the install being checked; its size is the
                message's required figure.
        """
        if self._settings.max_store_bytes is None:
            return
        self._space.check_quota(tree_size(staging) if staging else 0)

    def no_room(self, required: int, available: int) -> InsufficientStorage:
        """The 413 of a download needing ``required`` bytes where ``available`` are free for it."""
        return no_room(required, available)

    def cache_info(self) -> CacheInfo:
        """Describe the store (the body of ``GET /cache-info``)."""
        return self._space.cache_info()


def _local_path(text: str) -> str | None:
    """The directory a store argument names when it is a plain path or ``file://`` URL."""
    path = text.removeprefix("file://")
    return path if "://" not in path and "::" not in path else None


def _open_url(text: str, options: dict[str, Any], settings: Settings) -> Backend:
    """The backend of a store given by any other fsspec URL (an object store, ``memory://``)."""
    import fsspec  # noqa: PLC0415 - only URL stores need it
    from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415

    from model_fetch.storage._object import ObjectBackend  # noqa: PLC0415 - leases, sweeps

    if fsspec.core.split_protocol(text)[0] in {"s3", "s3a"}:
        # Another node's new record must be seen at once: never answer from a stale listing.
        options.setdefault("use_listings_cache", False)
    try:
        fs, path = fsspec.core.url_to_fs(text, **options)
    except ImportError as exc:
        raise StoreUnavailable(
            f"Cannot open the store {text}: {exc} (install model_fetch[s3] for s3://)",
            url=text,
        ) from exc
    if isinstance(fs, LocalFileSystem):  # local://, a chained URL ending on the local disk
        return LocalBackend(path, fs=fs)
    return ObjectBackend(fs, path, settings)


def _ignore(_size: int) -> None:
    """No progress to report."""


def _nothing() -> None:
    """No guard before the commit."""
