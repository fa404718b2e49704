"""Cleaning up an object store: retired generations, expired leases, orphans, abandoned uploads.

A reader on an object store cannot hold a file open across a deletion, so a generation replaced
by a commit is *retired* (a marker under ``.retired/``) and deleted one lease time later. Ages are
measured on the store's own clock (the LastModified of an object written now), never against this
machine's clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import TYPE_CHECKING, Any

from model_fetch.storage._layout import RECORD_NAME, REFS_DIR, is_generation
from model_fetch.storage._objects import Conditional, bucket_of, walk_objects
from model_fetch.storage._record import load_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from model_fetch.storage._layout import Layout
    from model_fetch.storage._record import InstallRecord

__all__ = ["Sweeper"]


class Sweeper:
    """Deferred and age-based deletions on one object store.

    Args:
        fs: The store's filesystem.
        layout: The store's paths.
        ttl: The lease time in seconds.
    """

    def __init__(self, fs: Any, layout: Layout, ttl: float) -> None:
        """Nothing is scheduled yet."""
        self.fs = fs
        self.layout = layout
        self.ttl = ttl
        self._timers: list[threading.Timer] = []
        self._timers_lock = threading.Lock()

    def close(self) -> None:
        """Cancel deferred deletions (cache-prune or a later install finishes them)."""
        with self._timers_lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    def retire(self, record: InstallRecord, previous: InstallRecord | None) -> None:
        """Keep a replaced generation one lease time for readers, then delete it."""
        version_dir = self.layout.version_dir(record.name, record.version)
        if previous is not None and previous.generation != record.generation:
            old = f"{version_dir}/{previous.generation}"
            marker = f"{version_dir}/.retired/{previous.generation}"
            with contextlib.suppress(Exception):
                self.fs.pipe_file(marker, record.generation.encode())
            timer = threading.Timer(self.ttl, self._delete_generation, (old, marker))
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

    def store_now(self) -> dt.datetime | None:
        """The store's own clock: the LastModified of an object written just now."""
        path = self.layout.lease_path(".clock")
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
        now = now or self.store_now()
        if now is None:
            return 0
        count = 0
        for marker, info in markers.items():
            generation = marker.rstrip("/").rsplit("/", 1)[-1]
            modified = info.get("LastModified")
            if generation == keep or not isinstance(modified, dt.datetime):
                continue
            if (now - modified).total_seconds() >= self.ttl:
                self._delete_generation(f"{version_dir}/{generation}", marker)
                count += 1
        return count

    def prune(self, now: dt.datetime, older_than: float) -> dict[str, int]:
        """Clear expired leases, orphaned generations and abandoned uploads.

        Args:
            now: The store's clock (:meth:`store_now`).
            older_than: Abort multipart uploads started this many seconds ago or earlier.

        Returns:
            How many expired leases, orphaned generations and abandoned uploads were removed.
        """
        counts = {"expired_leases": 0, "orphaned_generations": 0, "abandoned_uploads": 0}
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
                if newest is None or (now - newest).total_seconds() >= 2 * self.ttl:
                    self._delete_generation(entry, None)
                    counts["orphaned_generations"] += 1
        counts["abandoned_uploads"] = self._abort_uploads(now, older_than)
        return counts

    def _prune_leases(self, now: dt.datetime) -> tuple[int, bool]:
        """Delete leases not renewed for twice the lease time; tell whether live ones remain."""
        count, live = 0, False
        cond = Conditional(self.fs)
        for path, info in walk_objects(self.fs, self.layout.leases_dir):
            modified = info.get("LastModified")
            if path.rsplit("/", 1)[-1].startswith(".") or not isinstance(modified, dt.datetime):
                continue
            # A holder renews every ttl/3: a lease untouched for twice the ttl is dead.
            if (now - modified).total_seconds() < 2 * self.ttl:
                live = True
            elif cond.delete(path, str(info.get("ETag"))):
                count += 1
        return count, live

    def _version_dirs(self) -> Iterator[tuple[str, InstallRecord | None]]:
        try:
            name_dirs = self.fs.ls(self.layout.models_dir, detail=False)
        except FileNotFoundError:
            return
        for name_dir in name_dirs:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for version_dir in self.fs.ls(name_dir, detail=False):
                    if version_dir.rstrip("/").endswith(f"/{REFS_DIR}"):
                        continue
                    yield version_dir, load_record(self.fs, f"{version_dir}/{RECORD_NAME}")

    def _generations(self, version_dir: str) -> list[str]:
        try:
            entries = self.fs.ls(version_dir, detail=False)
        except FileNotFoundError:
            return []
        return [e for e in entries if is_generation(e.rstrip("/").rsplit("/", 1)[-1])]

    def _abort_uploads(self, now: dt.datetime, older_than: float) -> int:
        root = self.layout.root
        bucket = bucket_of(self.fs, root)
        lister = getattr(self.fs, "list_multipart_uploads", None)
        if bucket is None or lister is None:
            return 0
        prefix = root.partition("/")[2]
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
