"""The inventory: what is installed, and the rules for inspecting, removing and publishing it.

The library, the CLI and the REST API share these rules through :class:`~model_fetch.Downloader`:
``remove(force=...)`` refuses, or first cancels, the downloads of a model in flight, and
:meth:`Inventory.models_and_jobs` is the one listing of installed versions together with the
downloads running (and recently failed) that ``GET /models`` and ``model-fetch list`` show.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Final

import attrs

from model_fetch._models import InstalledModel, ModelInfo, RemovalResult
from model_fetch._paths import validate_name, validate_version
from model_fetch._provenance import recheck_signature
from model_fetch._verify import verify_installed
from model_fetch.exceptions import DownloadInProgress, InvalidRequest, ModelNotFound

if TYPE_CHECKING:
    from model_fetch._jobs import DownloadJob, JobManager
    from model_fetch._mirror import Mirror
    from model_fetch._models import CacheInfo, SignatureCheck, VerifyResult
    from model_fetch.install.signing import SigningConfig
    from model_fetch.storage import InstallRecord, Store

__all__ = ["CANCEL_WAIT", "Inventory"]

#: How long a forced removal waits for the downloads it cancelled to stop, in seconds.
CANCEL_WAIT: Final = 30.0


class Inventory:
    """Installed versions of one store, and the downloads of the same downloader in flight.

    Args:
        store: The store.
        mirror: The fleet mirror (for ``push`` and ``prune_objects``).
        jobs: The downloader's job manager (its downloads in flight are listed and cancelled).
    """

    def __init__(
        self,
        *,
        store: Store,
        mirror: Mirror | None,
        jobs: JobManager,
        signing: SigningConfig | None = None,
    ) -> None:
        """Wrap a store; nothing is read yet (``signing``: rules instead of the environment's)."""
        self.store = store
        self.mirror = mirror
        self._jobs = jobs
        self._signing = None if signing is None else lambda: signing

    # -- listing ------------------------------------------------------------------------------
    def list_models(self) -> list[InstalledModel]:
        """Every installed version, sorted by name then install time."""
        records = sorted(
            self.store.iter_records(), key=lambda r: (r.name, r.installed_at, r.version)
        )
        return [
            InstalledModel(
                name=record.name,
                version=record.version,
                model_id=record.model_id,
                source=record.source,
                size_bytes=record.size,
                installed_at=record.installed_at,
                ready_for_inference=record.ready_for_inference,
                signature=_verified(record),
            )
            for record in records
        ]

    def models_and_jobs(self) -> list[InstalledModel | DownloadJob]:
        """Installed versions, then downloads in flight and failures of versions not installed.

        Jobs come oldest first; a failed job is listed while it is kept (see ``KEEP_SECONDS``)
        and only when its version is not installed.
        """
        models = self.list_models()
        installed = {(model.name, model.version) for model in models}
        shown = [
            job
            for job in self._jobs.jobs()
            if not job.done
            or (
                job.status == "failed"
                and (job.request.model_name, job.request.version) not in installed
            )
        ]
        return [*models, *shown]

    def _versions(self, name: str) -> list[InstallRecord]:
        """Installed records of a model, oldest install first."""
        records = [record for record in self.store.iter_records() if record.name == name]
        return sorted(records, key=lambda r: (r.installed_at, r.version))

    def info(self, name: str, version: str | None = None) -> ModelInfo:
        """Describe one installed version (the newest installed when ``version`` is None).

        Raises:
            InvalidRequest: The name or version is malformed.
            ModelNotFound: That model or version is not installed.
        """
        name = validate_name(name)
        records = self._versions(name)
        if version is None or version == "latest":
            if not records:
                raise ModelNotFound(
                    f"Model '{name}' is not installed", model_name=name, version=None
                )
            record = records[-1]
        else:
            version = validate_version(version)
            found = [r for r in records if r.version == version]
            if not found:
                raise ModelNotFound(
                    f"Model '{name}' version '{version}' is not installed",
                    model_name=name,
                    version=version,
                )
            record = found[0]
        return ModelInfo(
            name=record.name,
            version=record.version,
            versions=tuple(r.version for r in records),
            model_id=record.model_id,
            source=record.source,
            download_url=record.download_url,
            file_path=self.store.file_path(record),
            files=record.files,
            size_bytes=record.size,
            installed_at=record.installed_at,
            checksum_verified=record.checksum_verified,
            ready_for_inference=record.ready_for_inference,
            readiness=dict(record.readiness),
            metadata=dict(record.metadata),
            directory=self.store.display(self.store.generation_dir(record)),
            signature=_verified(record),
        )

    # -- removal ------------------------------------------------------------------------------
    def remove(self, name: str, version: str = "all", *, force: bool = False) -> RemovalResult:
        """Remove versions, refusing (or with ``force``, first cancelling) downloads of them.

        Args:
            name: The model's name.
            version: A version, ``latest`` (the newest installed) or ``all``.
            force: Cancel this downloader's downloads of the model (of that version, unless
                ``all``) and wait for them to stop, instead of refusing.

        Raises:
            InvalidRequest: The name or version is malformed.
            ModelNotFound: Nothing installed matches.
            DownloadInProgress: This downloader runs a download of it and ``force`` is false,
                or another process holds the version's lock.
        """
        name = validate_name(name)
        in_flight = self._jobs.active_for(name, None if version == "all" else version)
        if in_flight and not force:
            raise DownloadInProgress(
                f"A download of model '{name}' is in progress; pass force=true to cancel it first",
                model_name=name,
                version=None if version == "all" else version,
            )
        for job in in_flight:
            job.cancel()
        deadline = time.monotonic() + CANCEL_WAIT
        for job in in_flight:
            job.wait(max(0.0, deadline - time.monotonic()))
        return self._remove_installed(name, version)

    def _remove_installed(self, name: str, version: str) -> RemovalResult:
        """Remove installed versions, each under its lock; 409 when a download holds it."""
        records = self._versions(name)
        if version == "all":
            targets = records
        elif version == "latest":
            targets = records[-1:]
        else:
            version = validate_version(version)
            targets = [r for r in records if r.version == version]
        if not targets:
            shown = "" if version == "all" else f" version '{version}'"
            raise ModelNotFound(
                f"Model '{name}'{shown} is not installed",
                model_name=name,
                version=None if version == "all" else version,
            )
        removed_files: list[str] = []
        freed = 0
        for record in targets:
            lock = self.store.lock(record.name, record.version)
            if not lock.try_acquire():
                raise DownloadInProgress(
                    f"A download of model '{name}' version '{record.version}' is in progress",
                    model_name=name,
                    version=record.version,
                ) from None
            try:
                removed_files.extend(self.store.remove(record))
                freed += record.size
            finally:
                lock.release()
        removed_versions = tuple(record.version for record in targets)
        remaining = tuple(r.version for r in records if r.version not in removed_versions)
        return RemovalResult(
            model_name=name,
            version=version if version == "all" else removed_versions[0],
            removed_versions=removed_versions,
            removed_files=tuple(removed_files),
            freed_bytes=freed,
            removed_at=dt.datetime.now(dt.UTC),
            remaining_versions=remaining,
        )

    # -- checks and upkeep --------------------------------------------------------------------
    def verify(self, name: str, version: str | None = None) -> VerifyResult:
        """Re-hash an installed version's files and compare them with its install record.

        Raises:
            InvalidRequest: The name or version is malformed.
            ModelNotFound: That model or version is not installed.
        """
        info = self.info(name, version)
        record = self.store.read_record(info.name, info.version)
        if record is None:  # removed between the two reads
            raise ModelNotFound(
                f"Model '{info.name}' version '{info.version}' is not installed",
                model_name=info.name,
                version=info.version,
            )
        result = verify_installed(self.store, record)
        signature, problem = recheck_signature(self.store, record, self._signing)
        return attrs.evolve(result, signature=signature, signature_error=problem)

    def prune_partials(self, older_than: float | None = None) -> tuple[int, int]:
        """Delete resumable partial downloads and abandoned staging; return how many, and bytes.

        Staging left by a dead process goes whatever ``older_than`` says: nobody can resume it.
        """
        staged, staged_bytes = self.store.prune_staging()
        count, freed = self.store.prune_partials(older_than)
        return count + staged, freed + staged_bytes

    def prune_objects(self, older_than: float | None = None) -> dict[str, int]:
        """Clear expired leases, orphans and abandoned uploads on the store and the mirror.

        Args:
            older_than: Abort multipart uploads started at least this many seconds ago
                (default one day).

        Returns:
            Counts: ``expired_leases``, ``orphaned_generations``, ``abandoned_uploads``.
        """
        counts = self.store.prune_objects(older_than)
        if self.mirror is not None and not self.mirror.read_only:
            for key, value in self.mirror.store.prune_objects(older_than).items():
                counts[key] += value
        return counts

    def push(self, name: str, version: str | None = None) -> InstallRecord:
        """Publish an installed version to the mirror; return the mirror's record.

        Raises:
            InvalidRequest: No mirror is configured.
            ModelNotFound: That version is not installed.
            StoreUnavailable: The mirror cannot be reached or is read-only.
        """
        if self.mirror is None:
            raise InvalidRequest("No mirror configured: pass --mirror or set MODEL_FETCH_MIRROR")
        info = self.info(name, version)
        record = self.store.installed(info.name, info.version)
        if record is None:
            raise ModelNotFound(
                f"Model '{info.name}' version '{info.version}' is not installed intact",
                model_name=info.name,
                version=info.version,
            )
        staging = self.store.new_staging()
        try:
            for file in record.files:
                dest = self.store.staging_file(staging, file.path)
                self.store.fs.get_file(self.store.installed_path(record, file.path), dest)
            return self.mirror.push(record, staging)
        finally:
            self.store.discard(staging)

    def cache_info(self) -> CacheInfo:
        """Describe the store: capacity, installed models and the download area."""
        return self.store.cache_info()


def _verified(record: InstallRecord) -> SignatureCheck | None:
    """The record's signature when one was verified (None for unsigned or unchecked installs)."""
    return record.signature if record.signature and record.signature.method else None
