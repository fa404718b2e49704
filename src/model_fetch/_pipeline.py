"""The pipeline: one request, from validation to the committed install record.

resolve (source plan) ─► preflight (installed? reuse or 409 · space) ─► lock (name, version)
─► fetch (tiers: mirror, origin; each file verified as it lands) ─► install (archives, checks)
─► signature (the signing policy and rules) ─► commit (atomic move, install record last)
─► InstallResult

The node's own store answers before any tier: an installed version that holds every file the
request selects is reused, before the source is asked, after it resolved the version, and again
once the lock is held (another process may have installed it meanwhile).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

import attrs

from model_fetch._cancel import check_cancelled
from model_fetch._log import get_logger, redact_url
from model_fetch._models import InstallResult, Plan, RemoteFile
from model_fetch._progress import ProgressTracker
from model_fetch._provenance import SignatureStep
from model_fetch._tiers import Attempt, MirrorTier, OriginTier
from model_fetch.checksums import Checksum
from model_fetch.exceptions import (
    InvalidRequest,
    ModelExists,
    ModelNotFound,
    OfflineModeError,
    StoreUnavailable,
)
from model_fetch.storage import InstallRecord, Store, make_record, plan_etags
from model_fetch.transfer import Transfer

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from model_fetch._clock import Clock
    from model_fetch._config import Settings
    from model_fetch._mirror import Mirror
    from model_fetch._models import DownloadOptions, DownloadRequest, FileRecord, Progress
    from model_fetch._tiers import Tier
    from model_fetch.install import InstallOutcome, Verifier
    from model_fetch.install.signing import SigningConfig
    from model_fetch.sources import Source
    from model_fetch.transfer import HttpClient, UrlPolicy

    #: The install step: (staging directory, fetched files, options) -> what to install.
    InstallStep = Callable[[str, list[FileRecord], DownloadOptions], InstallOutcome]

__all__ = ["Pipeline"]

log = get_logger(__name__)


def _checked_install(
    staging: str,
    files: list[FileRecord],
    options: DownloadOptions,
    *,
    verifiers: Sequence[Verifier] | None,
) -> InstallOutcome:
    from model_fetch.install import install_step  # noqa: PLC0415 - lazy: the checks

    return install_step(staging, files, options, verifiers=verifiers)


class Pipeline:
    """Runs requests against one store, with the sources, tiers and install step it is given.

    Args:
        settings: Offline mode, lock timeout.
        store: The node's store.
        source: Returns the source instance for a name (raises UnknownSource).
        http: The HTTP client of the transfer engine (the origin tier) and the mirror tier.
        clock: The clock for backoff, stall detection, durations and progress.
        mirror: The fleet mirror, consulted before the origin.
        install: The install step; by default safe extraction and readiness checks.
        verifiers: The verifiers the default install step uses instead of the registered
            ones (the built-in checks and plugins, read at each install).
        signing: Returns the signing configuration, called once per install; by default it
            is read from the environment and its file (docs/signing.md).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        source: Callable[[str], Source],
        *,
        http: HttpClient,
        clock: Clock,
        mirror: Mirror | None = None,
        install: InstallStep | None = None,
        verifiers: Sequence[Verifier] | None = None,
        signing: Callable[[], SigningConfig] | None = None,
    ) -> None:
        """Assemble the pipeline; nothing is read or fetched yet."""
        self.settings = settings
        self.store = store
        self.mirror = mirror
        self._source = source
        self._clock = clock
        chosen = None if verifiers is None else tuple(verifiers)
        self._install = install or functools.partial(_checked_install, verifiers=chosen)
        transfer = Transfer(http, clock, max_unknown_size=settings.max_unknown_size)
        self._signature = SignatureStep(transfer, signing)
        origin = OriginTier(store, transfer, after_mirror=mirror is not None)
        self.tiers: tuple[Tier, ...] = (
            (MirrorTier(mirror, store, http), origin) if mirror is not None else (origin,)
        )

    # -- preflight ----------------------------------------------------------------------------
    def check_submission(self, request: DownloadRequest) -> None:
        """What a job refuses before it exists: an unknown source, or an install to refuse.

        Raises:
            UnknownSource: No such source (400).
            ModelExists: Installed and ``if_exists="error"`` (409).
        """
        self._check_sources(request)
        if request.if_exists == "error" and not request.force_download:
            existing = self.store.installed(request.model_name, request.version)
            if existing is not None and self._usable(existing, request):
                self._reuse_or_refuse(request, existing)

    def _usable(
        self,
        record: InstallRecord,
        request: DownloadRequest,
        listing: tuple[str, ...] | None = None,
    ) -> bool:
        """Whether an install may answer the request: its files, and its signature's policy."""
        return _covers(record, request.options, listing) and self._signature.satisfied(
            request, record
        )

    def _check_sources(self, request: DownloadRequest) -> None:
        """Refuse an unknown ``source``, even where ``download_url`` means it is not used."""
        self._source(request.source)
        self._source(request.effective_source)

    def _reuse_or_refuse(self, request: DownloadRequest, record: InstallRecord) -> InstallResult:
        if request.if_exists == "error":
            raise ModelExists(
                f"Model '{record.name}' version '{record.version}' already exists. "
                "Use force_download=true to override.",
                model_name=record.name,
                version=record.version,
            )
        self.store.touch_accessed(record)
        return self._result(record, reused=True, duration=0.0)

    # -- the run ------------------------------------------------------------------------------
    def run(
        self,
        request: DownloadRequest,
        *,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        on_plan: Callable[[Plan], None] | None = None,
        url_policy: UrlPolicy | None = None,
    ) -> InstallResult:
        """Run the pipeline for a validated request, in this thread.

        Args:
            request: The validated request.
            progress: Receives progress snapshots.
            cancel: When set, the download stops with DownloadCancelled and installs nothing.
            on_plan: Called with the source's plan once it is known (sizes, URL, version).
            url_policy: For requests from untrusted clients (the REST API): the URLs the
                request itself names (``download_url``) are checked against it on every hop.

        Raises:
            See :meth:`Downloader.download`.
        """
        started = self._clock.monotonic()
        self._check_sources(request)
        name = request.model_name
        existing = self.store.installed(name, request.version)
        if existing is not None and not request.force_download and self._usable(existing, request):
            return self._reuse_or_refuse(request, existing)
        if self.settings.offline:
            return self._offline(request, progress, cancel)
        full = self._resolve(request)
        if on_plan is not None:
            on_plan(full)
        listing = tuple(file.path for file in full.files)
        if full.version != request.version:
            existing = self.store.installed(name, full.version)
        if (
            existing is not None
            and not request.force_download
            and self._usable(existing, request, listing)
        ):
            self._remember_ref(request, full)
            return self._reuse_or_refuse(request, existing)
        lock = self.store.lock(name, full.version)
        lock.acquire(timeout=self.settings.lock_timeout, cancel=cancel)
        try:
            current = self.store.installed(name, full.version)
            if (
                current is not None
                and self._usable(current, request, listing)
                and (
                    not request.force_download
                    or existing is None
                    or current.generation != existing.generation
                )
            ):
                # Installed by someone else while this request waited: that is our result.
                record, reused = current, True
            else:
                plan = _select(full, request, keep=current)
                if plan.total_size is not None:
                    self.store.check_space(plan.total_size)
                record = self._fetch_and_commit(
                    request,
                    plan,
                    listing,
                    progress=progress,
                    cancel=cancel,
                    guard=lock.check,
                    policy=url_policy if plan.source == "url" else None,
                )
                reused = False
            self._remember_ref(request, full)
        finally:
            lock.release()
        return self._result(record, reused=reused, duration=self._clock.monotonic() - started)

    def _resolve(self, request: DownloadRequest) -> Plan:
        """Ask the source for a plan, and add the caller's checksum to a one-file plan."""
        plan = self._source(request.effective_source).plan(request)
        if request.checksum is None:
            return plan
        if len(plan.files) != 1:
            raise InvalidRequest(
                f"checksum applies to a single file, but {request.model_name!r} has "
                f"{len(plan.files)} files; their digests come from the source",
            )
        return attrs.evolve(plan, files=(plan.files[0].with_checksum(request.checksum),))

    def _remember_ref(self, request: DownloadRequest, plan: Plan) -> None:
        if plan.version != request.version:
            self.store.write_alias(request.model_name, request.version, plan.version)

    # -- offline ------------------------------------------------------------------------------
    def _offline(
        self,
        request: DownloadRequest,
        progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
    ) -> InstallResult:
        """Serve a request from the store, else the mirror; never from the origin."""
        version = self.store.read_alias(request.model_name, request.version)
        record = self.store.installed(request.model_name, version) if version else None
        if record is not None and not request.force_download and self._usable(record, request):
            return self._reuse_or_refuse(request, record)
        if self.mirror is not None:
            result = self._offline_mirror(request, version or request.version, progress, cancel)
            if result is not None:
                return result
        raise self._offline_error(request)

    def _offline_mirror(
        self,
        request: DownloadRequest,
        version: str,
        progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
    ) -> InstallResult | None:
        """Install from the mirror alone (offline mode allows the mirror, not the origin)."""
        assert self.mirror is not None  # noqa: S101 - the caller checked
        started = self._clock.monotonic()
        try:
            found = self.mirror.store.read_record(request.model_name, version)
        except StoreUnavailable:
            if self.mirror.required:
                raise
            log.warning("The mirror %s is unreachable", self.mirror.url)
            return None
        if found is None:
            return None
        single = request.checksum if len(found.files) == 1 else None
        base = self.mirror.store.generation_dir(found)
        plan = Plan(
            files=tuple(
                RemoteFile(
                    url=self.mirror.store.display(f"{base}/{file.path}"),
                    path=file.path,
                    size=file.size,
                    checksums=_mirror_checksums(single, found.etags.get(file.path)),
                )
                for file in found.files
            ),
            version=found.version,
            download_url=found.download_url,
            source=found.source,
        )
        plan = _select(plan, request, keep=self.store.installed(request.model_name, found.version))
        lock = self.store.lock(request.model_name, plan.version)
        lock.acquire(timeout=self.settings.lock_timeout, cancel=cancel)
        try:
            record = self._fetch_and_commit(
                request,
                plan,
                found.listing or tuple(file.path for file in found.files),
                progress=progress,
                cancel=cancel,
                guard=lock.check,
                origin_allowed=False,
            )
        finally:
            lock.release()
        return self._result(record, reused=False, duration=self._clock.monotonic() - started)

    def _offline_error(self, request: DownloadRequest) -> OfflineModeError:
        return OfflineModeError(
            f"{self.settings.offline_variable} is set and model {request.model_name!r} "
            f"version {request.version!r} is not installed with the files asked for; unset it "
            "to download",
            model_name=request.model_name,
            version=request.version,
            variable=self.settings.offline_variable or "offline",
        )

    # -- fetch, install, commit ---------------------------------------------------------------
    def _fetch_and_commit(
        self,
        request: DownloadRequest,
        plan: Plan,
        listing: tuple[str, ...],
        *,
        progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        guard: Callable[[], None] | None,
        policy: UrlPolicy | None = None,
        origin_allowed: bool = True,
    ) -> InstallRecord:
        """Stage the plan through the tiers, install it and commit it; discard all on failure."""
        tracker = ProgressTracker(
            [file.size for file in plan.files],
            chunk_size=request.options.chunk_size,
            clock=self._clock,
            callback=progress,
            uploads=0 if self.store.local else 1,
        )
        attempt = Attempt(
            request=request,
            plan=plan,
            staging=self.store.new_staging(),
            tracker=tracker,
            cancel=cancel,
            policy=policy,
            origin_allowed=origin_allowed,
            offline_error=lambda: self._offline_error(request),
        )
        try:
            files = self._fetch(attempt)
            record = self._install_step(attempt, files, listing)
            committed = self._commit(attempt, record, guard)
        except BaseException:
            if attempt.undo is not None:
                attempt.undo()
            self.store.discard(attempt.staging)
            raise
        tracker.finish()
        log.info(
            "Installed %s version %s (%d file(s), %d bytes)",
            committed.name,
            committed.version,
            len(committed.files),
            committed.size,
        )
        return committed

    def _fetch(self, attempt: Attempt) -> list[FileRecord]:
        """Ask each tier in turn; the last one (the origin) answers or raises."""
        for tier in self.tiers:
            files = tier.fetch(attempt)
            if files is not None:
                return files
        raise attempt.offline_error()  # pragma: no cover - the origin tier never passes

    def _install_step(
        self, attempt: Attempt, files: list[FileRecord], listing: tuple[str, ...]
    ) -> InstallRecord:
        """Verified files in, the install record out: publish, unpack, check, size the quota."""
        request, plan, tracker = attempt.request, attempt.plan, attempt.tracker
        tracker.stage("verifying")
        check_cancelled(attempt.cancel)
        tracker.stage("installing")
        if attempt.then is not None:
            then, attempt.then, attempt.undo = attempt.then, None, None
            then(files)
        outcome = self._install(attempt.staging, files, request.options)
        check_cancelled(attempt.cancel)
        signature = self._signature.check(attempt, outcome.archives)
        self.store.check_quota(attempt.staging)
        return make_record(
            name=request.model_name,
            version=plan.version,
            source=plan.source,
            download_url=redact_url(plan.download_url),
            files=list(outcome.files),
            metadata=request.metadata,
            checksum_verified=all(remote.verifiable for remote in plan.files),
            listing=listing,
            readiness=outcome.readiness.to_dict(),
            ready=outcome.readiness.ready,
            archives=outcome.archives,
            etags=plan_etags(plan),
            signature=signature,
        )

    def _commit(
        self, attempt: Attempt, record: InstallRecord, guard: Callable[[], None] | None
    ) -> InstallRecord:
        if not self.store.local:
            attempt.tracker.expect_upload(_tree_bytes(attempt.staging))
        return self.store.commit(
            attempt.staging,
            record,
            on_upload=attempt.tracker.uploaded,
            guard=guard,
            cancel=attempt.cancel,
        )

    def _result(self, record: InstallRecord, *, reused: bool, duration: float) -> InstallResult:
        return InstallResult(
            model_name=record.name,
            version=record.version,
            file_path=self.store.file_path(record),
            size_bytes=record.size,
            download_duration_seconds=duration,
            checksum_verified=record.checksum_verified,
            installed_at=record.installed_at,
            model_id=record.model_id,
            ready_for_inference=record.ready_for_inference,
            readiness=dict(record.readiness),
            reused=reused,
            source=record.source,
            download_url=record.download_url,
            directory=self.store.display(self.store.generation_dir(record)),
            signature=record.signature if record.signature and record.signature.method else None,
        )


def _mirror_checksums(single: Checksum | None, etag: str | None) -> tuple[Checksum, ...]:
    """The caller's checksum, and the git blob id the mirror's record names the file by."""
    found = () if single is None else (single,)
    if etag is not None and len(etag) == 40:  # noqa: PLR2004 - a git blob id, not a sha256
        found = (*found, Checksum("git-blob-sha1", etag))
    return found


def _tree_bytes(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _dirs, names in os.walk(path)
        for name in names
    )


def _covers(
    record: InstallRecord,
    options: DownloadOptions,
    listing: tuple[str, ...] | None = None,
) -> bool:
    """Whether an install holds every file the request selects from the source's listing."""
    installed = {file.path for file in record.files}
    available = listing if listing is not None else (record.listing or tuple(installed))
    wanted = {path for path in available if options.selects(path)}
    return bool(wanted) and wanted <= installed


def _select(plan: Plan, request: DownloadRequest, keep: InstallRecord | None) -> Plan:
    """Apply allow/ignore patterns; files an earlier install of the version holds stay in it."""
    options = request.options
    kept = {file.path for file in keep.files} if keep is not None else set()
    chosen = [f for f in plan.files if options.selects(f.path)]
    if not chosen:
        raise ModelNotFound(
            f"No file of {plan.download_url!r} matches allow_patterns/ignore_patterns "
            f"({len(plan.files)} files available)",
            model_name=request.model_name,
            version=plan.version,
        )
    files = [f for f in plan.files if options.selects(f.path) or f.path in kept]
    return attrs.evolve(plan, files=tuple(files))
