"""The model store on fsspec: layout, staging, atomic commit and install records.

Layout under the root (a local path or any fsspec URL)::

    models/<name>/<version>/install.json     the install record, written last: the commit marker
    models/<name>/<version>/g-<id>/...       the files of one generation
    models/<name>/<version>/accessed         touched when an installed copy is reused
    .staging/<id>/                           downloads in progress (local stores)
    .locks/<hash>.lock                       one lock file per (name, version) (local stores)
    .leases/<hash>.json                      one lease per (name, version) (object stores)
    models/<name>/<version>/.retired/g-<id>  a replaced generation, kept one lease time for readers

``<name>`` and ``<version>`` are escaped into one path segment each (see
:func:`~model_fetch._paths.escape_segment`), so the layout is injective. A new download, even a
forced one, lands in a fresh generation directory; switching the install record to it is the only
visible step, so a reader sees the old files or the new ones, never a mix. Old generations are
removed after the switch (on an object store, no sooner than one lease time later, because
readers there cannot hold a file open across a deletion).

On an object store (no rename, no locks) files are staged and verified locally
(``MODEL_FETCH_STAGING``), uploaded under the new generation with bounded-memory multipart uploads,
their stored sizes checked, and the record written last with a conditional write; the
(name, version) lock is a lease object (see :mod:`model_fetch.storage._objects`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch._log import get_logger
from model_fetch._models import (
    CachedModel,
    CacheInfo,
    FileRecord,
    iso_timestamp,
    parse_timestamp,
)
from model_fetch._paths import escape_segment, model_id, validate_relpath
from model_fetch.exceptions import InsufficientStorage, ModelFetchError, StoreUnavailable
from model_fetch.storage._objects import (
    Conditional,
    Lease,
    bucket_of,
    check_bucket,
    store_unavailable,
    upload_file,
    walk_objects,
)
from model_fetch.transfer import PartialFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import filelock

    from model_fetch._config import Settings

__all__ = ["RECORD_FORMAT", "RECORD_NAME", "InstallRecord", "Store"]

log = get_logger(__name__)

RECORD_NAME: Final = "install.json"
RECORD_FORMAT: Final = 1
_GENERATION_PREFIX: Final = "g-"
_GENERATION: Final = re.compile(r"g-[0-9a-f]{16}")


@attrs.frozen(kw_only=True)
class InstallRecord:
    """The install record: the only proof that a version is completely installed.

    Attributes:
        name: The model's name.
        version: The version.
        source: The source that resolved it.
        download_url: Where it came from, with userinfo and query string redacted.
        files: Every installed file with its size and sha256.
        installed_at: When the record was committed.
        metadata: The request's metadata.
        model_id: The contract's model identifier.
        readiness: ``{"checked": <check or None>, "reason": <why not ready or None>}``.
        ready_for_inference: Whether a real model check passed.
        checksum_verified: Whether a digest was checked against the bytes.
        generation: The directory holding this install's files.
        primary: The main file's relative path (None for a multi-file model).
        listing: Every file path the source listed, before allow/ignore patterns (None in
            records that predate it).
        archives: Downloaded archives kept beside their extracted files
            (``cleanup_temp_files=false``).
    """

    name: str
    version: str
    source: str
    download_url: str
    files: tuple[FileRecord, ...]
    installed_at: dt.datetime
    metadata: dict[str, Any]
    model_id: str
    readiness: dict[str, Any]
    ready_for_inference: bool
    checksum_verified: bool
    generation: str
    primary: str | None
    listing: tuple[str, ...] | None = None
    archives: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Total bytes of the installed files."""
        return sum(file.size for file in self.files)

    def to_json(self) -> dict[str, Any]:
        """Return the record's JSON document."""
        return {
            "format": RECORD_FORMAT,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "download_url": self.download_url,
            "files": [file.to_dict() for file in self.files],
            "installed_at": iso_timestamp(self.installed_at),
            "metadata": self.metadata,
            "model_id": self.model_id,
            "readiness": self.readiness,
            "ready_for_inference": self.ready_for_inference,
            "checksum_verified": self.checksum_verified,
            "generation": self.generation,
            "primary": self.primary,
            "listing": list(self.listing) if self.listing is not None else None,
            "archives": list(self.archives),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstallRecord:
        """Parse a record document.

        Raises:
            ValueError: The document is not a record this version understands.
        """
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"unsupported install record format {data.get('format')!r}")
        try:
            files = tuple(
                FileRecord(
                    path=validate_relpath(f["path"]), size=int(f["size"]), sha256=str(f["sha256"])
                )
                for f in data["files"]
            )
            record = cls(
                name=str(data["name"]),
                version=str(data["version"]),
                source=str(data["source"]),
                download_url=str(data["download_url"]),
                files=files,
                installed_at=parse_timestamp(str(data["installed_at"])),
                metadata=dict(data.get("metadata") or {}),
                model_id=str(data["model_id"]),
                readiness=dict(data["readiness"]),
                ready_for_inference=bool(data["ready_for_inference"]),
                checksum_verified=bool(data["checksum_verified"]),
                generation=str(data["generation"]),
                primary=data.get("primary"),
                listing=tuple(str(p) for p in data["listing"]) if data.get("listing") else None,
                archives=tuple(validate_relpath(str(p)) for p in data.get("archives") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed install record: {exc}") from exc
        if not _GENERATION.fullmatch(record.generation):
            raise ValueError(f"malformed install record: bad generation {record.generation!r}")
        if record.primary is not None and record.primary not in {f.path for f in record.files}:
            raise ValueError("malformed install record: primary is not one of its files")
        return record


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
        import fsspec  # noqa: PLC0415 - keeps `import model_fetch` light
        from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415

        text = os.fspath(root)
        options = dict(storage_options or {})
        if fsspec.core.split_protocol(text)[0] in {"s3", "s3a"}:
            # Another node's new record must be seen at once: never answer from a stale listing.
            options.setdefault("use_listings_cache", False)
        try:
            self.fs, path = fsspec.core.url_to_fs(text, **options)
        except ImportError as exc:
            raise StoreUnavailable(
                f"Cannot open the store {text}: {exc} (install model_fetch[s3] for s3://)",
                url=text,
            ) from exc
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = os.path.abspath(os.path.expanduser(path)) if self.local else path.rstrip("/")
        self.url = self.root if self.local else self.fs.unstrip_protocol(self.root)
        self._settings = settings
        self._available = self.local
        self._conditional: bool | None = None
        self._timers: list[threading.Timer] = []
        self._timers_lock = threading.Lock()

    # -- availability -------------------------------------------------------------------------
    def ensure_available(self) -> None:
        """On an object store, check once that the bucket exists and can be read.

        Raises:
            StoreUnavailable: The bucket is missing (it is never created) or access is denied.
        """
        if self._available:
            return
        check_bucket(self.fs, self.root, self.url)
        self._available = True

    @property
    def object_store(self) -> bool:
        """Whether the store lives on an object store with buckets (s3://, gs://, ...)."""
        return not self.local and bucket_of(self.fs, self.root) is not None

    def supports_conditional_writes(self) -> bool:
        """Probe (once) whether the filesystem does conditional create and replace."""
        if self._conditional is None:
            if self.local:
                self._conditional = False
            else:
                self.ensure_available()
                try:
                    self._conditional = Conditional(self.fs).probe(self._join(".leases"))
                except ModelFetchError:
                    raise
                except Exception as exc:
                    raise store_unavailable(self.url, exc) from exc
        return self._conditional

    def close(self) -> None:
        """Cancel deferred deletions (cache-prune or a later install finishes them)."""
        with self._timers_lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # -- layout -------------------------------------------------------------------------------
    def _join(self, *parts: str) -> str:
        return "/".join((self.root, *parts)) if not self.local else os.path.join(self.root, *parts)

    def version_dir(self, name: str, version: str) -> str:
        """The directory of one installed (name, version)."""
        return self._join("models", escape_segment(name), escape_segment(version))

    def record_path(self, name: str, version: str) -> str:
        """The install record's path."""
        return self._join("models", escape_segment(name), escape_segment(version), RECORD_NAME)

    def generation_dir(self, record: InstallRecord) -> str:
        """The directory holding a record's files."""
        return self._join(
            "models",
            escape_segment(record.name),
            escape_segment(record.version),
            record.generation,
        )

    def display(self, path: str) -> str:
        """A path as users see it: local paths as they are, others as URLs."""
        return path if self.local else self.fs.unstrip_protocol(path)

    def file_path(self, record: InstallRecord) -> str:
        """The contract's ``file_path``: the main file, or the model's directory."""
        base = self.generation_dir(record)
        if record.primary:
            base = self._join_rel(base, record.primary)
        return self.display(base)

    def installed_path(self, record: InstallRecord, rel: str) -> str:
        """The path of one installed file of a record."""
        return self._join_rel(self.generation_dir(record), validate_relpath(rel))

    def _join_rel(self, base: str, rel: str) -> str:
        return os.path.join(base, *rel.split("/")) if self.local else f"{base}/{rel}"

    def _local_meta_dir(self, kind: str) -> str:
        if self.local:
            return os.path.join(self.root, kind)
        from model_fetch._config import default_home  # noqa: PLC0415

        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        base = self._settings.staging or os.path.join(default_home(), "remote-stores")
        return os.path.join(os.path.expanduser(base), digest, kind)

    def local_cache_dir(self) -> str:
        """A local directory for caches (repository indexes) that belong to this store."""
        return self._local_meta_dir(".cache")

    # -- records ------------------------------------------------------------------------------
    def read_record(self, name: str, version: str) -> InstallRecord | None:
        """Return the install record of (name, version), or None if it is not installed."""
        self.ensure_available()
        path = self.record_path(name, version)
        try:
            with self.fs.open(path, "rb") as handle:
                data = json.loads(handle.read())
            record = InstallRecord.from_json(data)
        except FileNotFoundError:
            return None
        except (ValueError, OSError) as exc:
            log.warning("Ignoring unreadable install record %s: %s", self.display(path), exc)
            return None
        if (record.name, record.version) != (name, version):
            log.warning("Ignoring install record %s that names another model", self.display(path))
            return None
        return record

    def installed(self, name: str, version: str) -> InstallRecord | None:
        """The record of an intact install of (name, version), or None.

        A file missing from the record's generation may mean the record was switched to a new
        generation (and the old one deleted) since it was read: the record is re-read once.
        """
        record = self.read_record(name, version)
        if record is None or self.is_intact(record):
            return record
        again = self.read_record(name, version)
        if again is not None and again.generation != record.generation and self.is_intact(again):
            return again
        return None

    def is_intact(self, record: InstallRecord) -> bool:
        """Tell whether every file of a record is present with its recorded size."""
        base = self.generation_dir(record)
        for file in record.files:
            path = self._join_rel(base, file.path)
            try:
                size = os.path.getsize(path) if self.local else self.fs.size(path)
            except (FileNotFoundError, OSError):
                return False
            if size != file.size:
                return False
        return True

    def hash_file(self, record: InstallRecord, rel: str) -> tuple[int, str] | None:
        """Return (size, sha256) of one installed file, or None if it is missing."""
        path = self._join_rel(self.generation_dir(record), rel)
        digest = hashlib.sha256()
        size = 0
        try:
            with self.fs.open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except (FileNotFoundError, IsADirectoryError):
            return None
        return size, digest.hexdigest()

    def iter_records(self) -> Iterator[InstallRecord]:
        """Yield every install record in the store (unordered)."""
        self.ensure_available()
        models = self._join("models")
        try:
            name_dirs = self.fs.ls(models, detail=False)
        except FileNotFoundError:
            return
        for name_dir in name_dirs:
            try:
                version_dirs = self.fs.ls(name_dir, detail=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for version_dir in version_dirs:
                path = (
                    self._join_rel(version_dir, RECORD_NAME)
                    if self.local
                    else f"{version_dir}/{RECORD_NAME}"
                )
                try:
                    with self.fs.open(path, "rb") as handle:
                        yield InstallRecord.from_json(json.loads(handle.read()))
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    continue
                except (ValueError, OSError) as exc:
                    log.warning(
                        "Ignoring unreadable install record %s: %s", self.display(path), exc
                    )

    def last_accessed(self, record: InstallRecord) -> dt.datetime:
        """When the version was installed or last reused."""
        marker = self._join_rel(self.version_dir(record.name, record.version), "accessed")
        try:
            if self.local:
                return max(
                    record.installed_at, dt.datetime.fromtimestamp(os.path.getmtime(marker), dt.UTC)
                )
        except OSError:
            pass
        return record.installed_at

    def touch_accessed(self, record: InstallRecord) -> None:
        """Note that an installed version was just reused (local stores only)."""
        if not self.local:
            return
        marker = os.path.join(self.version_dir(record.name, record.version), "accessed")
        with contextlib.suppress(OSError):
            with open(marker, "a", encoding="utf-8"):
                pass
            os.utime(marker)

    # -- refs ---------------------------------------------------------------------------------
    def _alias_path(self, name: str, ref: str) -> str:
        # ".refs" cannot clash with a version directory: escaped segments never start with ".".
        return self._join("models", escape_segment(name), ".refs", escape_segment(ref) + ".json")

    def write_alias(self, name: str, ref: str, version: str) -> None:
        """Remember that ``ref`` (a branch, "latest") resolved to ``version``, for offline use."""
        document = json.dumps(
            {"ref": ref, "version": version, "resolved_at": iso_timestamp(dt.datetime.now(dt.UTC))},
        ).encode()
        path = self._alias_path(name, ref)
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(document)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, document)

    def read_alias(self, name: str, ref: str) -> str | None:
        """Return the version ``ref`` last resolved to, or None."""
        try:
            with self.fs.open(self._alias_path(name, ref), "rb") as handle:
                version = json.loads(handle.read())["version"]
        except (FileNotFoundError, KeyError, TypeError, ValueError, OSError):
            return None
        return version if isinstance(version, str) else None

    def aliases(self, name: str) -> dict[str, str]:
        """Every ref of a model with the version it last resolved to."""
        directory = self._join("models", escape_segment(name), ".refs")
        try:
            entries = self.fs.ls(directory, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found: dict[str, str] = {}
        for entry in entries:
            try:
                with self.fs.open(entry, "rb") as handle:
                    data = json.loads(handle.read())
                found[str(data["ref"])] = str(data["version"])
            except (KeyError, TypeError, ValueError, OSError):
                continue
        return found

    def _drop_aliases(self, name: str, version: str) -> None:
        for ref, target in self.aliases(name).items():
            if target == version:
                with contextlib.suppress(OSError):
                    self.fs.rm_file(self._alias_path(name, ref))

    # -- partial downloads --------------------------------------------------------------------
    def partial(self, name: str, version: str, rel: str, url: str) -> PartialFile:
        """The resumable partial download of one file of one (name, version)."""
        clean_url = url.split("?", 1)[0]
        key = hashlib.sha256(f"{name}\x00{version}\x00{rel}\x00{clean_url}".encode()).hexdigest()
        return PartialFile(self._local_meta_dir(".partials"), key[:40], url)

    def partials(self) -> list[tuple[str, int, float]]:
        """Every partial download kept: (path, bytes, last modified as a timestamp)."""
        directory = self._local_meta_dir(".partials")
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(directory):
                if entry.name.endswith(".part"):
                    with contextlib.suppress(OSError):
                        info = entry.stat()
                        found.append((entry.path, info.st_size, info.st_mtime))
        return found

    def prune_partials(self, older_than: float | None = None) -> tuple[int, int]:
        """Delete partial downloads (only those untouched for ``older_than`` seconds, if given).

        Returns:
            How many partials were deleted and how many bytes that freed.
        """
        now = dt.datetime.now(dt.UTC).timestamp()
        count = freed = 0
        for path, size, modified in self.partials():
            if older_than is not None and now - modified < older_than:
                continue
            for victim in (path, path.removesuffix(".part") + ".json"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(victim)
            count += 1
            freed += size
        return count, freed

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
        counts = {"expired_leases": 0, "orphaned_generations": 0, "abandoned_uploads": 0}
        if self.local:
            return counts
        self.ensure_available()
        now = self._store_now()
        if now is None:
            return counts
        ttl = self._settings.lease_ttl
        counts["expired_leases"], live_leases = self._prune_leases(now)
        for version_dir, record in self._version_dirs():
            counts["orphaned_generations"] += self._sweep_retired(
                version_dir, keep=record.generation if record else "", now=now
            )
            if live_leases:
                continue  # a live holder may be uploading a generation that has no record yet
            for entry in self._generations(version_dir):
                if record is not None and entry.rsplit("/", 1)[-1] == record.generation:
                    continue
                times = [info.get("LastModified") for _path, info in walk_objects(self.fs, entry)]
                newest = max((t for t in times if isinstance(t, dt.datetime)), default=None)
                if newest is None or (now - newest).total_seconds() >= 2 * ttl:
                    self._delete_generation(entry, None)
                    counts["orphaned_generations"] += 1
        counts["abandoned_uploads"] = self._abort_uploads(now, older_than or 86400.0)
        return counts

    def _prune_leases(self, now: dt.datetime) -> tuple[int, bool]:
        """Delete leases not renewed for twice the lease time; tell whether live ones remain."""
        count, live = 0, False
        cond = Conditional(self.fs)
        for path, info in walk_objects(self.fs, self._join(".leases")):
            modified = info.get("LastModified")
            if path.rsplit("/", 1)[-1].startswith(".") or not isinstance(modified, dt.datetime):
                continue
            # A holder renews every ttl/3: a lease untouched for twice the ttl is dead.
            if (now - modified).total_seconds() < 2 * self._settings.lease_ttl:
                live = True
            elif cond.delete(path, str(info.get("ETag"))):
                count += 1
        return count, live

    def _version_dirs(self) -> Iterator[tuple[str, InstallRecord | None]]:
        try:
            name_dirs = self.fs.ls(self._join("models"), detail=False)
        except FileNotFoundError:
            return
        for name_dir in name_dirs:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for version_dir in self.fs.ls(name_dir, detail=False):
                    if version_dir.rstrip("/").endswith("/.refs"):
                        continue
                    yield version_dir, self._parse_record(f"{version_dir}/{RECORD_NAME}")

    def _generations(self, version_dir: str) -> list[str]:
        try:
            entries = self.fs.ls(version_dir, detail=False)
        except FileNotFoundError:
            return []
        return [e for e in entries if _GENERATION.fullmatch(e.rstrip("/").rsplit("/", 1)[-1])]

    def _abort_uploads(self, now: dt.datetime, older_than: float) -> int:
        bucket = bucket_of(self.fs, self.root)
        lister = getattr(self.fs, "list_multipart_uploads", None)
        if bucket is None or lister is None:
            return 0
        prefix = self.root.partition("/")[2]
        count = 0
        for upload in lister(bucket):
            key, started = str(upload.get("Key", "")), upload.get("Initiated")
            if prefix and not key.startswith(prefix + "/"):
                continue
            if isinstance(started, dt.datetime) and (now - started).total_seconds() < older_than:
                continue
            with contextlib.suppress(Exception):
                self.fs.abort_mpu(bucket, key, upload["UploadId"])
                count += 1
        return count

    # -- staging and commit -------------------------------------------------------------------
    def new_staging(self) -> str:
        """Create and return a fresh, empty local staging directory."""
        base = self._local_meta_dir(".staging")
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(prefix="stage-", dir=base)

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
        generation = _GENERATION_PREFIX + uuid.uuid4().hex[:16]
        record = attrs.evolve(record, generation=generation)
        version_dir = self.version_dir(record.name, record.version)
        target = self.generation_dir(record)
        document = json.dumps(record.to_json(), indent=2, sort_keys=True).encode()
        if not self.local:
            self._commit_remote(
                staging,
                record,
                document,
                on_upload=on_upload or (lambda _n: None),
                guard=guard,
                cancel=cancel,
            )
            if not keep_staging:
                shutil.rmtree(staging, ignore_errors=True)
            return record
        os.makedirs(version_dir, exist_ok=True)
        _fsync_tree(staging)
        if guard is not None:
            guard()
        os.rename(staging, target)
        _fsync_dir(version_dir)
        tmp = os.path.join(version_dir, f".{RECORD_NAME}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(document)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, os.path.join(version_dir, RECORD_NAME))
        _fsync_dir(version_dir)
        self._remove_old_generations(version_dir, keep=generation)
        return record

    def _commit_remote(
        self,
        staging: str,
        record: InstallRecord,
        document: bytes,
        *,
        on_upload: Callable[[int], None],
        guard: Callable[[], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        self.ensure_available()
        target = self.generation_dir(record)
        record_path = self.record_path(record.name, record.version)
        uploaded: list[str] = []
        try:
            for dirpath, _dirs, files in os.walk(staging):
                for file in sorted(files):
                    local = os.path.join(dirpath, file)
                    rel = os.path.relpath(local, staging).replace(os.sep, "/")
                    remote = f"{target}/{validate_relpath(rel)}"
                    uploaded.append(remote)
                    upload_file(self.fs, local, remote, on_bytes=on_upload, cancel=cancel)
            if guard is not None:
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
        self._retire(record, previous)

    def _write_record(self, path: str, document: bytes) -> InstallRecord | None:
        """Write the record: created if absent, else replaced only if unchanged since read.

        Returns:
            The record that was replaced, or None.
        """
        conditional = Conditional(self.fs)
        if not self.supports_conditional_writes():
            previous = self._parse_record(path)
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
            previous = self._parse_record(path)
            try:
                conditional.replace(path, document, str(info.get("ETag")))
            except (FileNotFoundError, OSError):
                continue
            return previous
        raise StoreUnavailable(
            f"The install record {self.display(path)} kept changing while it was being written",
            url=self.url,
        )

    def _parse_record(self, path: str) -> InstallRecord | None:
        try:
            with self.fs.open(path, "rb") as handle:
                return InstallRecord.from_json(json.loads(handle.read()))
        except (FileNotFoundError, ValueError, OSError):
            return None

    def _retire(self, record: InstallRecord, previous: InstallRecord | None) -> None:
        """Keep a replaced generation one lease time for readers, then delete it."""
        version_dir = self.version_dir(record.name, record.version)
        if previous is not None and previous.generation != record.generation:
            old = f"{version_dir}/{previous.generation}"
            marker = f"{version_dir}/.retired/{previous.generation}"
            with contextlib.suppress(Exception):
                self.fs.pipe_file(marker, record.generation.encode())
            timer = threading.Timer(
                self._settings.lease_ttl, self._delete_generation, (old, marker)
            )
            timer.daemon = True
            with self._timers_lock:
                self._timers.append(timer)
            timer.start()
        self._sweep_retired(version_dir, keep=record.generation)

    def _delete_generation(self, generation_dir: str, marker: str | None) -> None:
        with contextlib.suppress(Exception):
            self.fs.rm(generation_dir, recursive=True)
        if marker is not None:
            with contextlib.suppress(Exception):
                self.fs.rm_file(marker)

    def _store_now(self) -> dt.datetime | None:
        """The store's own clock: the LastModified of an object written just now."""
        path = self._join(".leases", ".clock")
        try:
            self.fs.pipe_file(path, b"clock")
            modified = self.fs.info(path, refresh=True).get("LastModified")
        except Exception:  # noqa: BLE001 - a store without timestamps: no age-based cleanup
            return None
        return modified if isinstance(modified, dt.datetime) else None

    def _sweep_retired(self, version_dir: str, keep: str, now: dt.datetime | None = None) -> int:
        """Delete generations retired more than one lease time ago (by the store's clock)."""
        markers = dict(walk_objects(self.fs, f"{version_dir}/.retired"))
        if not markers:
            return 0
        now = now or self._store_now()
        if now is None:
            return 0
        count = 0
        for marker, info in markers.items():
            generation = marker.rstrip("/").rsplit("/", 1)[-1]
            modified = info.get("LastModified")
            if generation == keep or not isinstance(modified, dt.datetime):
                continue
            if (now - modified).total_seconds() >= self._settings.lease_ttl:
                self._delete_generation(f"{version_dir}/{generation}", marker)
                count += 1
        return count

    def _remove_old_generations(self, version_dir: str, keep: str) -> None:
        try:
            entries = self.fs.ls(version_dir, detail=False)
        except FileNotFoundError:
            return
        for entry in entries:
            base = os.path.basename(entry)
            if base.startswith(_GENERATION_PREFIX) and base != keep:
                with contextlib.suppress(OSError):
                    self._rm_tree(entry)

    def _rm_tree(self, path: str) -> None:
        if self.local:
            shutil.rmtree(path, ignore_errors=True)
        else:
            self.fs.rm(path, recursive=True)

    def discard(self, staging: str) -> None:
        """Remove a staging directory after a failure."""
        shutil.rmtree(staging, ignore_errors=True)

    def remove(self, record: InstallRecord) -> list[str]:
        """Uninstall one version: the record goes first, so a crash mid-way uninstalls it.

        Returns:
            The paths of the files that were deleted.
        """
        base = self.generation_dir(record)
        files = [self.display(self._join_rel(base, file.path)) for file in record.files]
        version_dir = self.version_dir(record.name, record.version)
        self.fs.rm_file(self.record_path(record.name, record.version))
        self._rm_tree(version_dir)
        self._drop_aliases(record.name, record.version)
        name_dir = self._join("models", escape_segment(record.name))
        with contextlib.suppress(OSError):
            remaining = [
                entry
                for entry in self.fs.ls(name_dir, detail=False)
                if not entry.rstrip("/").endswith("/.refs")
            ]
            if not remaining:
                self._rm_tree(name_dir)
        return files

    # -- locks --------------------------------------------------------------------------------
    def lock(self, name: str, version: str) -> filelock.BaseFileLock | Lease:
        """A cross-process lock for one (name, version); not yet acquired.

        A local file lock on local stores (and filesystems without conditional writes, which
        then only exclude processes on this machine); a lease object on object stores.
        """
        import filelock  # noqa: PLC0415 - only a download needs it; keeps import light

        digest = hashlib.sha256(f"{name}\x00{version}".encode()).hexdigest()[:32]
        if not self.local and self.supports_conditional_writes():
            return self.lease(f"{digest}.json", what=f"{name!r} version {version!r} in {self.url}")
        directory = self._local_meta_dir(".locks")
        os.makedirs(directory, exist_ok=True)
        return filelock.FileLock(os.path.join(directory, f"{digest}.lock"), thread_local=False)

    def lease(self, name: str, *, what: str) -> Lease:
        """A lease object under ``.leases/`` (object stores with conditional writes)."""
        return Lease(self.fs, self._join(".leases", name), self._settings.lease_ttl, what=what)

    # -- space --------------------------------------------------------------------------------
    def _tree_size(self, path: str) -> tuple[int, int]:
        total = count = 0
        if not os.path.isdir(path):
            return 0, 0
        for dirpath, _dirs, files in os.walk(path):
            for file in files:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(os.path.join(dirpath, file))
                    count += 1
        return total, count

    def staging_usage(self) -> tuple[int, int]:
        """Bytes and entries held in the staging area."""
        base = self._local_meta_dir(".staging")
        entries = len(os.listdir(base)) if os.path.isdir(base) else 0
        return self._tree_size(base)[0], entries

    def capacity(self) -> tuple[int, int, int]:
        """Return (total, used, available) bytes, honouring the quota when one is set."""
        quota = self._settings.max_store_bytes
        if quota is not None:
            used = (
                sum(record.size for record in self.iter_records())
                + self.staging_usage()[0]
                + sum(size for _path, size, _when in self.partials())
            )
            return quota, used, max(0, quota - used)
        # An object store has no size; what can fill up is the local staging directory every
        # download passes through, so the figures (and the 413 preflight) describe that disk.
        probe = self.root if self.local else self._local_meta_dir(".staging")
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        usage = shutil.disk_usage(probe)
        # Space reserved for root (or held by the VM's thin provisioning) is neither used
        # nor available to us; leaving it out keeps used + available == total, as df's Use%.
        return usage.used + usage.free, usage.used, usage.free

    def available(self) -> int | None:
        """Bytes that may still be written (on object stores: in the local staging directory)."""
        total, _used, available = self.capacity()
        if not total:
            return None
        return available

    def check_space(self, required: int, already_held: int = 0) -> None:
        """Raise InsufficientStorage if ``required`` more bytes do not fit.

        Args:
            required: Bytes the download needs in total.
            already_held: Bytes of it already written to staging (counted as used).
        """
        available = self.available()
        if available is None:
            return
        if required - already_held > available:
            raise InsufficientStorage(
                f"Insufficient storage space. Required: {_mb(required)}MB, "
                f"Available: {_mb(available + already_held)}MB",
                required_bytes=required,
                available_bytes=available + already_held,
            )

    def check_quota(self) -> None:
        """Raise InsufficientStorage if the store (staging included) is over its quota."""
        quota = self._settings.max_store_bytes
        if quota is None:
            return
        _total, used, _available = self.capacity()
        if used > quota:
            raise InsufficientStorage(
                f"Insufficient storage space. Required: {_mb(used)}MB, Available: {_mb(quota)}MB",
                required_bytes=used,
                available_bytes=quota,
            )

    def cache_info(self) -> CacheInfo:
        """Describe the store (the body of ``GET /cache-info``)."""
        records = sorted(self.iter_records(), key=lambda r: (r.name, r.version))
        total, used, available = self.capacity()
        staging_bytes, staging_entries = self.staging_usage()
        partials = self.partials()
        return CacheInfo(
            cache_directory=self.url,
            total_bytes=total,
            used_bytes=used,
            available_bytes=available,
            models=tuple(
                CachedModel(
                    model_name=record.name,
                    version=record.version,
                    size_bytes=record.size,
                    last_accessed=self.last_accessed(record),
                )
                for record in records
            ),
            download_bytes=staging_bytes + sum(size for _path, size, _when in partials),
            download_entries=staging_entries + len(partials),
            partial_downloads=len(partials),
            completed_downloads=sum(len(record.archives) for record in records),
            last_updated=dt.datetime.now(dt.UTC),
        )


def make_record(
    *,
    name: str,
    version: str,
    source: str,
    download_url: str,
    files: list[FileRecord],
    metadata: dict[str, Any],
    checksum_verified: bool,
    listing: tuple[str, ...] | None = None,
    readiness: dict[str, Any] | None = None,
    ready: bool = False,
    archives: tuple[str, ...] = (),
) -> InstallRecord:
    """Build an uncommitted install record (its generation is chosen at commit)."""
    return InstallRecord(
        name=name,
        version=version,
        source=source,
        download_url=download_url,
        files=tuple(files),
        installed_at=dt.datetime.now(dt.UTC),
        metadata=metadata,
        model_id=model_id(name, version),
        readiness=readiness or {"checked": None, "reason": "not checked"},
        ready_for_inference=ready,
        checksum_verified=checksum_verified,
        generation=_GENERATION_PREFIX + "pending",
        primary=files[0].path if len(files) == 1 else None,
        listing=listing,
        archives=archives,
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f}"


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: str) -> None:
    """Flush every directory of a staged tree (the files were fsynced as they were written)."""
    for dirpath, _dirs, _files in os.walk(path):
        _fsync_dir(dirpath)
