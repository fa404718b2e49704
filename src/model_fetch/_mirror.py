"""The fleet mirror: a shared store every node consults between its own store and the origin.

A node first looks for the version's record on the mirror. When it is there, the files are
copied down with parallel ranged reads and verified against the digests the request or the
source gives (not only the mirror record's, so a writable mirror cannot poison the fleet). When
it is not, one node takes the mirror's lease for that version, fetches from the origin and
publishes the verified files, record last; the other nodes wait while the lease keeps being
renewed and then copy from the mirror. One origin download per fleet.

The mirror holds the files as the source serves them (before archives are extracted), so every
node can check them against the source's digests.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch._config import MirrorConfig
from model_fetch._log import get_logger, redact_url
from model_fetch._models import FileRecord, RemoteFile
from model_fetch._verify import verify_digests
from model_fetch.exceptions import (
    ChecksumMismatch,
    DownloadCancelled,
    ModelFetchError,
    StoreUnavailable,
)
from model_fetch.storage import (
    InstallRecord,
    LeaseLost,
    Store,
    make_record,
    plan_etags,
    store_unavailable,
)
from model_fetch.transfer import FetchOutcome, FsspecRangeReader, RangeFailed, copy_object

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._config import Settings
    from model_fetch._models import Plan
    from model_fetch._progress import ProgressTracker
    from model_fetch.storage import Lease

__all__ = ["Mirror", "MirrorOutcome"]

log = get_logger(__name__)

#: Bytes per ranged read when copying from the mirror, and reads in flight at once.
RANGE_SIZE: Final = 8 * 2**20
READERS: Final = 4


class _Corrupt(Exception):
    """A mirror object does not match its record or the source's digests."""


@attrs.frozen(kw_only=True)
class MirrorOutcome:
    """What the mirror gave a download.

    Attributes:
        files: The files copied from the mirror and verified, or None (go to the origin).
        claim: The mirror's lease for this version when this node must fetch from the origin
            and publish; None when it must not publish.
    """

    files: list[FileRecord] | None = None
    claim: Lease | None = None


class Mirror:
    """A fleet mirror on a store with conditional writes.

    Args:
        url: The mirror's root (an fsspec URL such as ``s3://bucket/mirror``).
        settings: The downloader's settings (lease time, lock timeout, staging).
        storage_options: fsspec options for the mirror's filesystem.
        required: An unreachable mirror is an error instead of a warning.
        read_only: Use the mirror, never write to it.
        publish_private: Also publish downloads that needed credentials.
    """

    def __init__(
        self,
        url: str,
        settings: Settings,
        storage_options: dict[str, Any] | None = None,
        *,
        required: bool = False,
        read_only: bool = False,
        publish_private: bool = False,
    ) -> None:
        """Open the mirror; nothing is read until the first download."""
        self.store = Store(url, settings, storage_options)
        self.url = self.store.url
        self.required = required
        self.read_only = read_only
        self.publish_private = publish_private
        self._settings = settings
        self._ready = False
        self._ready_lock = threading.Lock()

    @classmethod
    def open(cls, config: MirrorConfig | None, settings: Settings) -> Mirror | None:
        """Open the mirror a :class:`~model_fetch.MirrorConfig` or ``settings.mirror`` names."""
        config = config or MirrorConfig()
        url = config.url or settings.mirror
        if not url:
            return None
        return cls(
            url,
            settings,
            config.storage_options,
            required=config.required,
            read_only=config.read_only,
            publish_private=config.publish_private,
        )

    def __repr__(self) -> str:
        """Show the URL."""
        return f"Mirror({self.url!r})"

    def check(self) -> None:
        """Check once that the mirror exists and can hold leases.

        Raises:
            StoreUnavailable: The bucket is missing or unreachable, or the filesystem cannot do
                conditional writes (then the mirror is refused even when not required).
        """
        with self._ready_lock:
            if self._ready:
                return
            try:
                self.store.ensure_available()
                conditional = self.read_only or self.store.supports_conditional_writes()
            except ModelFetchError:
                raise
            except Exception as exc:
                raise store_unavailable(self.url, exc, "mirror") from exc
            if not conditional:
                raise _Refused(
                    f"The mirror {self.url} cannot do conditional writes (create-if-absent), so "
                    "it cannot hold leases; refusing it rather than racing other nodes",
                    url=self.url,
                )
            self._ready = True

    def _unavailable(self, exc: BaseException) -> MirrorOutcome:
        error = (
            exc if isinstance(exc, StoreUnavailable) else store_unavailable(self.url, exc, "mirror")
        )
        if self.required or isinstance(exc, _Refused):
            raise error from exc
        log.warning("%s; downloading from the origin instead", error)
        return MirrorOutcome()

    # -- obtaining ----------------------------------------------------------------------------
    def obtain(
        self,
        name: str,
        plan: Plan,
        tracker: ProgressTracker,
        *,
        private: bool,
        cancel: threading.Event | None,
        stage: Callable[[str], str],
        may_claim: bool = True,
    ) -> MirrorOutcome:
        """Copy a version from the mirror, or claim the right to publish it after the origin.

        Args:
            name: The model's name.
            plan: The selected files with the source's digests.
            tracker: Progress of this download.
            private: The download needs credentials (published only with ``publish_private``).
            cancel: Stops the wait or the copy.
            stage: Returns the staging path of a relative file path (creating its parents).
            may_claim: Whether this node may fetch from the origin (not in offline mode).

        Raises:
            StoreUnavailable: The mirror is unreachable and required, or it was refused.
        """
        try:
            self.check()
            return self._obtain(
                name,
                plan,
                tracker,
                claim=may_claim and not self.read_only and (self.publish_private or not private),
                cancel=cancel,
                stage=stage,
            )
        except (DownloadCancelled, _Refused):
            raise
        except StoreUnavailable as exc:
            return self._unavailable(exc)
        except ModelFetchError:
            raise
        except Exception as exc:
            log.debug("Mirror error for %s %s", name, plan.version, exc_info=True)
            return self._unavailable(exc)

    def _obtain(
        self,
        name: str,
        plan: Plan,
        tracker: ProgressTracker,
        *,
        claim: bool,
        cancel: threading.Event | None,
        stage: Callable[[str], str],
    ) -> MirrorOutcome:
        version = plan.version
        corrupt: str | None = None
        record = self.store.read_record(name, version)
        if record is not None and _covers(record, plan):
            files = self._try_copy(record, plan, tracker, cancel, stage)
            if files is not None:
                return MirrorOutcome(files=files)
            corrupt = record.generation
        if not claim:
            return MirrorOutcome()
        lease = self.store.lease(
            _lease_name(name, version), what=f"{name!r} version {version!r} on {self.url}"
        )

        def published() -> bool:
            found = self.store.read_record(name, version)
            return found is not None and found.generation != corrupt and _covers(found, plan)

        held = lease.acquire(timeout=self._settings.lock_timeout, cancel=cancel, done=published)
        try:
            published_now = published()
        except BaseException:
            if held:
                lease.release()
            raise
        if not published_now:
            return MirrorOutcome(claim=lease if held else None)
        # Another node published it while this one waited: copy, do not fetch.
        if held:
            lease.release()
        record = self.store.read_record(name, version)
        if record is None:
            return MirrorOutcome()
        return MirrorOutcome(files=self._try_copy(record, plan, tracker, cancel, stage))

    def _try_copy(
        self,
        record: InstallRecord,
        plan: Plan,
        tracker: ProgressTracker,
        cancel: threading.Event | None,
        stage: Callable[[str], str],
    ) -> list[FileRecord] | None:
        """Copy and verify, or report a corrupt mirror object and return None."""
        try:
            return self._copy(record, plan, tracker, cancel, stage)
        except _Corrupt as exc:
            problem = exc
        log.error("Corrupt object on the mirror %s (not installed): %s", self.url, problem)
        return None

    def _copy(
        self,
        record: InstallRecord,
        plan: Plan,
        tracker: ProgressTracker,
        cancel: threading.Event | None,
        stage: Callable[[str], str],
    ) -> list[FileRecord]:
        """Copy the plan's files from a mirror record and verify them, or raise _Corrupt."""
        tracker.bytes_from = "mirror"
        by_path = {file.path: file for file in record.files}
        copied = []
        for index, remote in enumerate(plan.files):
            entry = by_path[remote.path]
            if remote.size is not None and remote.size != entry.size:
                raise _Corrupt(
                    f"{remote.path}: the mirror has {entry.size} bytes, the source "
                    f"says {remote.size}"
                )
            tracker.set_size(index, entry.size)
            dest = stage(remote.path)
            path = f"{self.store.generation_dir(record)}/{remote.path}"
            try:
                outcome = self._read(
                    path,
                    dest,
                    remote=remote,
                    size=entry.size,
                    on_position=functools.partial(tracker.advance, index),
                    cancel=cancel,
                )
            except FileNotFoundError:
                # Replaced since the record was read: re-read it once.
                again = self.store.read_record(record.name, record.version)
                if again is None or again.generation == record.generation:
                    raise _Corrupt(f"{remote.path} is missing from the mirror") from None
                return self._copy(again, plan, tracker, cancel, stage)
            copied.append(_check(remote, entry, outcome))
        return copied

    def _read(
        self,
        path: str,
        dest: str,
        *,
        remote: RemoteFile,
        size: int,
        on_position: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> FetchOutcome:
        """Copy one object with parallel ranged reads, hashing while copying.

        Memory stays at READERS ranges.
        """
        fs = self.store.fs
        stored = int(fs.info(path)["size"])
        if stored != size:
            raise _Corrupt(f"{path} holds {stored} bytes, its record says {size}")
        try:
            return copy_object(
                FsspecRangeReader(fs, path, block=RANGE_SIZE),
                dest,
                size=size,
                checksums=remote.checksums,
                on_position=on_position,
                cancel=cancel,
                connections=READERS,
                segment_size=RANGE_SIZE,
            )
        except RangeFailed as exc:
            raise _Corrupt(exc.reason) from exc

    # -- publishing ---------------------------------------------------------------------------
    def publish(
        self,
        claim: Lease,
        name: str,
        plan: Plan,
        *,
        staging: str,
        files: list[FileRecord],
        tracker: ProgressTracker,
        cancel: threading.Event | None,
    ) -> None:
        """Publish verified files to the mirror, record last, then release the lease.

        A failure is a warning: the node's own install does not depend on the mirror.
        """
        version = plan.version
        record = make_record(
            name=name,
            version=version,
            source=plan.source,
            download_url=redact_url(plan.download_url),
            files=files,
            metadata={},
            checksum_verified=all(remote.verifiable for remote in plan.files),
            listing=tuple(file.path for file in plan.files),
            etags=plan_etags(plan),
        )
        try:
            tracker.expect_upload(sum(file.size for file in files))
            self.store.commit(
                staging,
                record,
                on_upload=tracker.uploaded,
                guard=claim.check,
                cancel=cancel,
                keep_staging=True,
            )
            log.info("Published %s version %s to the mirror %s", name, version, self.url)
        except LeaseLost as exc:
            log.warning("Not publishing to the mirror: %s", exc)
        except DownloadCancelled:
            raise
        except Exception as exc:
            if self.required:
                raise store_unavailable(self.url, exc, "mirror") from exc
            log.warning("Could not publish %s version %s to the mirror: %s", name, version, exc)
        finally:
            claim.release()

    def push(self, record: InstallRecord, staging: str) -> InstallRecord:
        """Publish an installed version's files (``model-fetch mirror push``).

        Raises:
            StoreUnavailable: The mirror is unreachable or read-only, or the lease wait timed out.
        """
        if self.read_only:
            raise StoreUnavailable(f"The mirror {self.url} is read-only here", url=self.url)
        self.check()
        lease = self.store.lease(
            _lease_name(record.name, record.version),
            what=f"{record.name!r} version {record.version!r} on {self.url}",
        )
        lease.acquire(timeout=self._settings.lock_timeout)
        try:
            fresh = attrs.evolve(record, metadata={})
            return self.store.commit(staging, fresh, guard=lease.check, keep_staging=True)
        except ModelFetchError:
            raise
        except Exception as exc:
            raise store_unavailable(self.url, exc, "mirror") from exc
        finally:
            lease.release()


class _Refused(StoreUnavailable):
    """The mirror cannot hold leases."""


def _lease_name(name: str, version: str) -> str:
    return hashlib.sha256(f"{name}\x00{version}".encode()).hexdigest()[:32] + ".json"


def _covers(record: InstallRecord, plan: Plan) -> bool:
    held = {file.path for file in record.files}
    return all(remote.path in held for remote in plan.files)


def _check(remote: RemoteFile, entry: FileRecord, outcome: FetchOutcome) -> FileRecord:
    """Compare a copied file's digests with the mirror record and with the source's digests."""
    size, digests = outcome.size, outcome.digests
    if size != entry.size or digests["sha256"] != entry.sha256:
        raise _Corrupt(
            f"{remote.path}: the mirror's bytes (sha256:{digests['sha256']}, {size} bytes) do not "
            f"match its record (sha256:{entry.sha256}, {entry.size} bytes)"
        )
    try:
        verify_digests(remote, sha256=digests["sha256"], digests=digests)
    except ChecksumMismatch as exc:
        raise _Corrupt(f"{remote.path}: {exc}") from exc
    return FileRecord(path=remote.path, size=size, sha256=digests["sha256"])
