"""The :class:`Downloader`: one pipeline behind the library, the CLI and the REST API.

request ─validate─► source plan ─► preflight (exists? space? lock) ─► transfer (hash while
streaming) ─► verify ─► commit (atomic move, install record last) ─► InstallResult
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import TYPE_CHECKING, Any, Self

import attrs

from model_fetch._cancel import check_cancelled
from model_fetch._clock import Clock, SystemClock
from model_fetch._config import Settings
from model_fetch._jobs import DownloadJob, JobManager
from model_fetch._log import get_logger, redact_url
from model_fetch._models import (
    DownloadOptions,
    DownloadRequest,
    FileRecord,
    IfExists,
    InstalledModel,
    InstallResult,
    ModelInfo,
    Plan,
    Progress,
    RemoteFile,
    RemovalResult,
    VerifyResult,
)
from model_fetch._paths import validate_name, validate_version
from model_fetch._progress import ProgressTracker
from model_fetch.exceptions import (
    ChecksumMismatch,
    DownloadCancelled,
    DownloadInProgress,
    InvalidRequest,
    ModelExists,
    ModelNotFound,
    OfflineModeError,
    StoreUnavailable,
)
from model_fetch.sources import (
    Source,
    SourceContext,
    SourceFactory,
    available_sources,
    get_source_class,
)
from model_fetch.storage import InstallRecord, Store, make_record
from model_fetch.transfer import FetchOutcome, HttpClient, Transfer

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    from model_fetch._mirror import Mirror
    from model_fetch._models import CacheInfo
    from model_fetch.storage import Lease, StoreLock
    from model_fetch.transfer import UrlPolicy

__all__ = ["Downloader"]

log = get_logger(__name__)


class Downloader:
    """Downloads, verifies and installs models into a store; lists, inspects and removes them.

    A Downloader is thread-safe and meant to be long-lived: it holds one connection pool shared
    by every download. Use it as a context manager, or call :meth:`close`.

    Example:
        >>> from model_fetch import Downloader
        >>> with Downloader(store="/tmp/models") as downloader:  # doctest: +SKIP
        ...     result = downloader.download(
        ...         "resnet50", version="v1.0",
        ...         download_url="https://example.com/resnet50.pth",
        ...         checksum="sha256:...",
        ...     )
        ...     print(result.file_path)

    Args:
        store: The store root: a local path or any fsspec URL. Defaults to ``MODEL_FETCH_HOME``,
            else the user cache directory.
        offline: Serve installed models only. Defaults to ``MODEL_FETCH_OFFLINE`` or
            ``HF_HUB_OFFLINE``.
        max_store_bytes: A quota on the store's size. Defaults to ``MODEL_FETCH_MAX_STORE_SIZE``.
        lock_timeout: Seconds to wait for a concurrent download of the same version.
        repository: The model repository index (URL or path) for source ``default``. Defaults
            to ``MODEL_FETCH_REPOSITORY``, else the index that ships with model_fetch.
        local_registry: The local registry root for source ``local``. Defaults to
            ``MODEL_FETCH_LOCAL_REGISTRY``.
        storage_options: Options for the store's fsspec filesystem (credentials, endpoint).
        http: The HTTP client to share (one is created by default).
        clock: The clock used for backoff and stall detection (tests inject a fake one).
        sources: Sources by name (instances, or classes built with this downloader's
            :class:`SourceContext`), used instead of the registry's for those names.
        max_concurrent_downloads: Worker threads for :meth:`submit`; further jobs queue.
        mirror: A fleet mirror (fsspec URL) consulted between the store and the origin.
            Defaults to ``MODEL_FETCH_MIRROR``. See docs/mirror.md.
        mirror_storage_options: Options for the mirror's fsspec filesystem.
        mirror_required: An unreachable mirror fails the download (StoreUnavailable) instead
            of a warning and the origin.
        mirror_read_only: Use the mirror without ever writing to it.
        mirror_publish_private: Also publish downloads that needed credentials (a gated
            Hugging Face repository, a netrc host) to the mirror.
        lease_ttl: Seconds a lease on an object store or mirror lives without renewal.
            Defaults to ``MODEL_FETCH_LEASE_TTL``, else 60.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        offline: bool | None = None,
        max_store_bytes: int | None = None,
        lock_timeout: float | None = None,
        repository: str | os.PathLike[str] | None = None,
        local_registry: str | os.PathLike[str] | None = None,
        storage_options: dict[str, Any] | None = None,
        http: HttpClient | None = None,
        clock: Clock | None = None,
        sources: Mapping[str, Source | SourceFactory] | None = None,
        max_concurrent_downloads: int = 4,
        mirror: str | None = None,
        mirror_storage_options: dict[str, Any] | None = None,
        mirror_required: bool = False,
        mirror_read_only: bool = False,
        mirror_publish_private: bool = False,
        lease_ttl: float | None = None,
    ) -> None:
        """Create a downloader. Nothing is fetched or written until a download starts."""
        self.settings = Settings.load(
            mirror=mirror,
            lease_ttl=lease_ttl,
            home=store,
            offline=offline,
            lock_timeout=lock_timeout,
            max_store_bytes=max_store_bytes,
            repository=repository,
            local_registry=local_registry,
        )
        self.store = Store(self.settings.home, self.settings, storage_options)
        self.mirror: Mirror | None = None
        if self.settings.mirror:
            from model_fetch._mirror import Mirror  # noqa: PLC0415 - only fleets need it

            self.mirror = Mirror(
                self.settings.mirror,
                self.settings,
                mirror_storage_options,
                required=mirror_required,
                read_only=mirror_read_only,
                publish_private=mirror_publish_private,
            )
        self._owns_http = http is None
        self.http = http or HttpClient()
        self.clock = clock or SystemClock()
        self._transfer = Transfer(self.http, self.clock)
        if isinstance(max_concurrent_downloads, bool) or not 1 <= max_concurrent_downloads <= 64:  # noqa: PLR2004
            raise InvalidRequest("max_concurrent_downloads must be between 1 and 64")
        self._max_concurrent = max_concurrent_downloads
        self._jobs: JobManager | None = None
        self._jobs_lock = threading.Lock()
        self._sources: dict[str, Source] = {}
        self._sources_lock = threading.Lock()
        for name, given in (sources or {}).items():
            is_instance = isinstance(given, Source) and not isinstance(given, type)
            self._sources[name] = given if is_instance else given(self.source_context())  # type: ignore[operator,assignment]

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Cancel running jobs, then release the connection pool (if this downloader made it)."""
        if self._jobs is not None:
            self._jobs.shutdown(cancel=True)
        self.store.close()
        if self.mirror is not None:
            self.mirror.store.close()
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Self:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the downloader."""
        self.close()

    def __repr__(self) -> str:
        """Show the store."""
        return f"Downloader(store={self.store.url!r})"

    # -- sources ------------------------------------------------------------------------------
    def source(self, name: str) -> Source:
        """Return the source instance for a name, building it on first use.

        Raises:
            UnknownSource: No such source is registered.
        """
        with self._sources_lock:
            found = self._sources.get(name)
        if found is not None:
            return found
        instance = get_source_class(name)(self.source_context())
        with self._sources_lock:
            return self._sources.setdefault(name, instance)

    def source_names(self) -> list[str]:
        """Names ``source`` may take: registered sources (built-ins, plugins) and injected ones."""
        with self._sources_lock:
            injected = set(self._sources)
        return sorted(injected.union(available_sources()))

    def source_context(self) -> SourceContext:
        """The context this downloader gives its sources (settings, HTTP client, cache)."""
        return SourceContext(
            settings=self.settings,
            http=self.http,
            cache_dir=self.store.local_cache_dir(),
            clock=self.clock,
        )

    # -- download -----------------------------------------------------------------------------
    def download(
        self,
        model_name: str,
        version: str = "latest",
        *,
        download_url: str | None = None,
        source: str = "default",
        checksum: str | None = None,
        force_download: bool = False,
        if_exists: IfExists = "reuse",
        options: DownloadOptions | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> InstallResult:
        """Download, verify and install a model; return at once if it is already installed.

        Args:
            model_name: The model's name (``name`` or ``org/name``).
            version: The version to install (``latest`` by default).
            download_url: A direct URL; it overrides the repository lookup whatever ``source``
                says.
            source: The source that resolves the request (``default``, ``huggingface``,
                ``url``, ``local`` or a plugin).
            checksum: The expected digest, ``algo:hex`` (sha256, sha512, sha1, md5, blake2b); a
                bare 64-character hex is sha256.
            force_download: Download again even if installed, replacing it atomically.
            if_exists: ``reuse`` (default) returns an installed, intact version with no network
                request; ``error`` raises :class:`ModelExists` instead.
            options: The contract's options (``chunk_size``, ``timeout``, ``retry_count``,
                ``verify_ssl``, ``extract_after_download``, ``cleanup_temp_files``).
            metadata: Free-form metadata kept in the install record.
            progress: Called with :class:`Progress` snapshots while the download runs.

        Returns:
            The contract's "Download Completed" result.

        Raises:
            InvalidRequest: A malformed name, version, checksum, option or URL (400).
            ModelNotFound: No such model at the source (404).
            ModelExists: Installed already and ``if_exists="error"`` (409).
            InsufficientStorage: The store cannot hold the model (413).
            ChecksumMismatch: The bytes do not match the expected digest (500).
            DownloadFailed: The transfer failed after its retries (500).
        """
        request = DownloadRequest(
            model_name=model_name,
            version=version,
            download_url=download_url,
            source=source,
            checksum=checksum,
            force_download=force_download,
            if_exists=if_exists,
            options=options,
            metadata=metadata if metadata is not None else {},
        )
        return self.run(request, progress=progress)

    @property
    def jobs(self) -> JobManager:
        """The job manager behind :meth:`submit` (created on first use)."""
        with self._jobs_lock:
            if self._jobs is None:
                self._jobs = JobManager(self, self._max_concurrent)
            return self._jobs

    def submit(
        self,
        model_name: str,
        version: str = "latest",
        *,
        download_url: str | None = None,
        source: str = "default",
        checksum: str | None = None,
        force_download: bool = False,
        if_exists: IfExists = "reuse",
        options: DownloadOptions | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> DownloadJob:
        """Start a download in the worker pool and return its job at once.

        Takes the same arguments as :meth:`download`. The request is validated now; with
        ``if_exists="error"`` an installed version is refused now (409), before any byte moves.
        Identical requests in flight share one transfer.

        Returns:
            A :class:`DownloadJob` with ``download_id``, ``status``, ``progress``, ``wait()``,
            ``result()`` and ``cancel()``.

        Raises:
            InvalidRequest: The request is malformed (400).
            ModelExists: Installed and ``if_exists="error"`` (409).
            DownloadInProgress: A different request for the same (name, version) is running.
        """
        request = DownloadRequest(
            model_name=model_name,
            version=version,
            download_url=download_url,
            source=source,
            checksum=checksum,
            force_download=force_download,
            if_exists=if_exists,
            options=options,
            metadata=metadata if metadata is not None else {},
        )
        return self.submit_request(request)

    def submit_request(
        self,
        request: DownloadRequest,
        *,
        url_policy: UrlPolicy | None = None,
    ) -> DownloadJob:
        """Submit a validated request (see :meth:`submit`).

        Args:
            request: The validated request.
            url_policy: The URL policy for a request from an untrusted client.
        """
        self.source(request.effective_source)  # an unknown source is a 400 now, not a failed job
        if request.if_exists == "error" and not request.force_download:
            existing = self._installed(request.model_name, request.version)
            if existing is not None and _covers(existing, request.options):
                self._reuse_or_refuse(request, existing)
        return self.jobs.submit(request, policy=url_policy)

    def run(
        self,
        request: DownloadRequest,
        *,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        on_plan: Callable[[Plan], None] | None = None,
        url_policy: UrlPolicy | None = None,
    ) -> InstallResult:
        """Run the pipeline for a validated request (see :meth:`download`).

        Args:
            request: The validated request.
            progress: Receives progress snapshots.
            cancel: When set, the download stops with DownloadCancelled and installs nothing.
            on_plan: Called with the source's plan once it is known (sizes, URL, version).
            url_policy: For requests from untrusted clients (the REST API): the URLs the
                request itself names (``download_url``) are checked against it on every hop.
        """
        started = self.clock.monotonic()
        name, options = request.model_name, request.options
        existing = self._installed(name, request.version)
        if existing is not None and not request.force_download and _covers(existing, options):
            return self._reuse_or_refuse(request, existing)
        if self.settings.offline:
            return self._offline(request, progress, cancel)
        full = self._plan(request)
        if on_plan is not None:
            on_plan(full)
        listing = tuple(file.path for file in full.files)
        if full.version != request.version:
            existing = self._installed(name, full.version)
        if (
            existing is not None
            and not request.force_download
            and _covers(existing, options, listing)
        ):
            self._remember_ref(request, full)
            return self._reuse_or_refuse(request, existing)
        lock = self._acquire(name, full.version, cancel)
        try:
            current = self._installed(name, full.version)
            if (
                current is not None
                and _covers(current, options, listing)
                and (
                    not request.force_download
                    or existing is None
                    or current.generation != existing.generation
                )
            ):
                # Installed by someone else while this request waited: that is our result.
                record, reused = current, True
            else:
                plan = _select(full, request, options, keep=current)
                if plan.total_size is not None:
                    self.store.check_space(plan.total_size)
                policy = url_policy if plan.source == "url" else None
                record = self._fetch_and_commit(
                    request,
                    plan,
                    listing=listing,
                    progress=progress,
                    cancel=cancel,
                    policy=policy,
                    guard=lock.check,
                )
                reused = False
            self._remember_ref(request, full)
        finally:
            lock.release()
        return self._result(record, reused=reused, duration=self.clock.monotonic() - started)

    def _acquire(
        self,
        name: str,
        version: str,
        cancel: threading.Event | None,
    ) -> StoreLock:
        """Take the (name, version) lock, giving up at the lock timeout or on cancellation."""
        lock = self.store.lock(name, version)
        lock.acquire(timeout=self.settings.lock_timeout, cancel=cancel)
        return lock

    def _remember_ref(self, request: DownloadRequest, plan: Plan) -> None:
        if plan.version != request.version:
            self.store.write_alias(request.model_name, request.version, plan.version)

    def _plan(self, request: DownloadRequest) -> Plan:
        """Ask the source for a plan, and add the caller's checksum to a one-file plan."""
        plan = self.source(request.effective_source).plan(request)
        if request.checksum is None:
            return plan
        if len(plan.files) != 1:
            raise InvalidRequest(
                f"checksum applies to a single file, but {request.model_name!r} has "
                f"{len(plan.files)} files; their digests come from the source",
            )
        return attrs.evolve(plan, files=(plan.files[0].with_checksum(request.checksum),))

    def _offline(
        self,
        request: DownloadRequest,
        progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
    ) -> InstallResult:
        """Serve a request from the store, else the mirror; never from the origin."""
        version = self.store.read_alias(request.model_name, request.version)
        record = self._installed(request.model_name, version) if version else None
        if record is not None and not request.force_download:
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
        started = self.clock.monotonic()
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
                    checksums=single,
                )
                for file in found.files
            ),
            version=found.version,
            download_url=found.download_url,
            source=found.source,
        )
        plan = _select(plan, request, request.options, keep=None)
        lock = self._acquire(request.model_name, plan.version, cancel)
        try:
            record = self._fetch_and_commit(
                request,
                plan,
                listing=found.listing or tuple(file.path for file in found.files),
                progress=progress,
                cancel=cancel,
                guard=lock.check,
                origin_allowed=False,
            )
        finally:
            lock.release()
        return self._result(record, reused=False, duration=self.clock.monotonic() - started)

    def _offline_error(self, request: DownloadRequest) -> OfflineModeError:
        return OfflineModeError(
            f"{self.settings.offline_variable} is set and model {request.model_name!r} "
            f"version {request.version!r} is not installed; unset it to download",
            model_name=request.model_name,
            version=request.version,
            variable=self.settings.offline_variable or "offline",
        )

    def _installed(self, name: str, version: str) -> InstallRecord | None:
        return self.store.installed(name, version)

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

    def _fetch_and_commit(
        self,
        request: DownloadRequest,
        plan: Plan,
        *,
        listing: tuple[str, ...],
        progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None = None,
        policy: UrlPolicy | None = None,
        guard: Callable[[], None] | None = None,
        origin_allowed: bool = True,
    ) -> InstallRecord:
        tracker = ProgressTracker(
            [file.size for file in plan.files],
            chunk_size=request.options.chunk_size,
            clock=self.clock,
            callback=progress,
            uploads=0 if self.store.local else 1,
        )
        available = self.store.available()
        held = [0] * len(plan.files)
        staging = self.store.new_staging()
        claim: Lease | None = None
        try:
            records: list[FileRecord] | None = None
            if self.mirror is not None:
                outcome = self.mirror.obtain(
                    request.model_name,
                    plan,
                    tracker,
                    private=self._needs_credentials(plan),
                    cancel=cancel,
                    stage=lambda rel: self.store.staging_file(staging, rel),
                    may_claim=origin_allowed,
                )
                records, claim = outcome.files, outcome.claim
            if records is None:
                self._require_origin(request, origin_allowed=origin_allowed)
                if self.mirror is not None:
                    tracker.bytes_from = "origin"
                    _clear(staging)  # whatever a failed mirror copy left
                records = [
                    self._fetch_one(
                        request=request,
                        plan=plan,
                        index=index,
                        remote=remote,
                        staging=staging,
                        tracker=tracker,
                        held=held,
                        available=available,
                        cancel=cancel,
                        policy=policy,
                    )
                    for index, remote in enumerate(plan.files)
                ]
            verified = all(remote.verifiable for remote in plan.files)
            tracker.stage("verifying")
            check_cancelled(cancel)
            tracker.stage("installing")
            if claim is not None and self.mirror is not None:
                # Publish the files as the source served them, before archives are unpacked,
                # so every node can check them against the source's digests.
                mine, claim = claim, None
                self.mirror.publish(
                    mine,
                    request.model_name,
                    plan,
                    staging=staging,
                    files=records,
                    tracker=tracker,
                    cancel=cancel,
                )
            from model_fetch.install._step import install_step  # noqa: PLC0415 - lazy: checks

            outcome_files = install_step(staging, records, request.options)
            check_cancelled(cancel)
            self.store.check_quota()
            record = make_record(
                name=request.model_name,
                version=plan.version,
                source=plan.source,
                download_url=redact_url(plan.download_url),
                files=list(outcome_files.files),
                metadata=request.metadata,
                checksum_verified=verified,
                listing=listing,
                readiness=outcome_files.readiness.to_dict(),
                ready=outcome_files.readiness.ready,
                archives=outcome_files.archives,
            )
            if not self.store.local:
                tracker.expect_upload(_tree_bytes(staging))
            committed = self.store.commit(
                staging, record, on_upload=tracker.uploaded, guard=guard, cancel=cancel
            )
        except BaseException:
            if claim is not None:
                claim.release()
            self.store.discard(staging)
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

    def _require_origin(self, request: DownloadRequest, *, origin_allowed: bool) -> None:
        if not origin_allowed:
            raise self._offline_error(request)

    def _needs_credentials(self, plan: Plan) -> bool:
        """Whether fetching the plan sends credentials (a hub token, userinfo, netrc)."""
        for remote in plan.files:
            if any(key.lower() == "authorization" for key in remote.headers):
                return True
            if remote.url.startswith(("http://", "https://")) and self.http.has_credentials(
                remote.url
            ):
                return True
        return False

    def _fetch_one(
        self,
        *,
        request: DownloadRequest,
        plan: Plan,
        index: int,
        remote: RemoteFile,
        staging: str,
        tracker: ProgressTracker,
        held: list[int],
        available: int | None,
        cancel: threading.Event | None,
        policy: UrlPolicy | None,
    ) -> FileRecord:
        dest = self.store.staging_file(staging, remote.path)

        def on_size(size: int) -> None:
            tracker.set_size(index, size)
            if plan.total_size is None:
                self.store.check_space(size + sum(held[:index]))

        def reserve(position: int) -> None:
            held[index] = position
            if available is not None and sum(held) > available:
                self.store.check_space(sum(held))

        scheme = remote.url.partition("://")[0].lower()
        partial = (
            self.store.partial(request.model_name, plan.version, remote.path, remote.url)
            if scheme in {"http", "https"}
            else None
        )
        try:
            outcome = self._transfer.fetch(
                remote,
                dest,
                request.options,
                on_size=on_size,
                on_position=lambda position: tracker.advance(index, position),
                reserve=reserve,
                cancel=cancel,
                policy=policy,
                partial=partial,
            )
        except ModelNotFound as exc:
            if exc.model_name is not None:
                raise
            # The transfer engine knows the URL, not the model: name it for the caller.
            raise ModelNotFound(
                exc.message, model_name=request.model_name, version=plan.version, url=exc.url
            ) from exc
        except DownloadCancelled:
            # A cancelled download keeps its partial data only when asked to keep temp files.
            if partial is not None and request.options.cleanup_temp_files:
                partial.discard()
            raise
        verify_outcome(remote, outcome)
        return FileRecord(path=remote.path, size=outcome.size, sha256=outcome.sha256)

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
        )

    # -- inspection ---------------------------------------------------------------------------
    def list_models(self) -> list[InstalledModel]:
        """List every installed version, sorted by name then install time."""
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
            )
            for record in records
        ]

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
        )

    def remove(self, name: str, version: str = "all") -> RemovalResult:
        """Remove one version (or ``all``, or ``latest``: the newest installed).

        Raises:
            InvalidRequest: The name or version is malformed.
            ModelNotFound: Nothing installed matches.
            DownloadInProgress: A download of that version is running.
        """
        name = validate_name(name)
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
        shown_version = version if version == "all" else removed_versions[0]
        return RemovalResult(
            model_name=name,
            version=shown_version,
            removed_versions=removed_versions,
            removed_files=tuple(removed_files),
            freed_bytes=freed,
            removed_at=dt.datetime.now(dt.UTC),
            remaining_versions=remaining,
        )

    def verify(self, name: str, version: str | None = None) -> VerifyResult:
        """Re-hash an installed version's files and compare them with its install record.

        Args:
            name: The model's name.
            version: The version (the newest installed when None).

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
        if not self.store.is_intact(record):
            # A missing object may mean the record switched to a new generation: re-read once.
            record = self.store.read_record(info.name, info.version) or record
        missing: list[str] = []
        mismatched: list[dict[str, Any]] = []
        for file in record.files:
            actual = self.store.hash_file(record, file.path)
            if actual is None:
                missing.append(file.path)
            elif actual != (file.size, file.sha256):
                mismatched.append(
                    {
                        "path": file.path,
                        "expected_size": file.size,
                        "actual_size": actual[0],
                        "expected_sha256": file.sha256,
                        "actual_sha256": actual[1],
                    },
                )
        return VerifyResult(
            model_name=record.name,
            version=record.version,
            checked_files=len(record.files),
            missing=tuple(missing),
            mismatched=tuple(mismatched),
        )

    def prune_partials(self, older_than: float | None = None) -> tuple[int, int]:
        """Delete resumable partial downloads (those untouched for ``older_than`` seconds).

        Returns:
            How many partial downloads were deleted, and the bytes freed.
        """
        return self.store.prune_partials(older_than)

    def prune_objects(self, older_than: float | None = None) -> dict[str, int]:
        """Clear expired leases, orphaned generations and abandoned uploads (object stores).

        Runs on the store and on the mirror (unless it is read-only).

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
        """Publish an installed version to the mirror (``model-fetch mirror push``).

        Args:
            name: The model's name.
            version: The version (the newest installed when None).

        Returns:
            The mirror's record.

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


def verify_outcome(remote: RemoteFile, outcome: FetchOutcome) -> None:
    """Check every digest the plan knows for a file; raise ChecksumMismatch on the first miss."""
    expected = [(c.algorithm, c.hexdigest, outcome.digests[c.algorithm]) for c in remote.checksums]
    if remote.sha256_prefix is not None:
        expected.append(
            ("sha256-prefix", remote.sha256_prefix, outcome.sha256[: len(remote.sha256_prefix)]),
        )
    for algorithm, want, got in expected:
        if want != got:
            url = redact_url(remote.url)
            raise ChecksumMismatch(
                f"Checksum mismatch for {remote.path} from {url}: expected "
                f"{algorithm}:{want}, got {algorithm}:{got}",
                url=url,
                path=remote.path,
                algorithm=algorithm,
                expected=want,
                actual=got,
            )


def _clear(directory: str) -> None:
    """Empty a staging directory, keeping the directory itself."""
    import shutil  # noqa: PLC0415 - only after a failed mirror copy

    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


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


def _select(
    plan: Plan, request: DownloadRequest, options: DownloadOptions, keep: InstallRecord | None
) -> Plan:
    """Apply allow/ignore patterns; files an earlier install of the version holds stay in it."""
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
