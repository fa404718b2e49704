"""The :class:`Downloader` facade: builds its collaborators unless given, and delegates.

Downloads go to ``_pipeline``, jobs to ``_jobs``, installed models to ``_inventory``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import attrs

from model_fetch._clock import Clock, SystemClock
from model_fetch._config import MirrorConfig, Settings
from model_fetch._inventory import Inventory
from model_fetch._jobs import DownloadJob, JobManager
from model_fetch._models import DownloadOptions, DownloadRequest, IfExists
from model_fetch._pipeline import Pipeline
from model_fetch._sourcing import SourceSet
from model_fetch.sources import SourceContext
from model_fetch.storage import Store
from model_fetch.transfer import HttpClient

if TYPE_CHECKING:
    import os
    import threading
    from collections.abc import Callable, Mapping, Sequence

    from model_fetch._mirror import Mirror
    from model_fetch._models import (
        CacheInfo,
        InstalledModel,
        InstallResult,
        ModelInfo,
        Plan,
        Progress,
        RemovalResult,
        VerifyResult,
    )
    from model_fetch.install import Verifier
    from model_fetch.install.signing import SigningConfig
    from model_fetch.sources import Source, SourceFactory
    from model_fetch.storage import InstallRecord
    from model_fetch.transfer import UrlPolicy

__all__ = ["Downloader"]


class Downloader:
    """Downloads, verifies and installs models into a store; lists, inspects and removes them.

    A Downloader is thread-safe and meant to be long-lived: it holds one connection pool shared
    by every download. Use it as a context manager, or call :meth:`close`. Arguments left out
    come from the environment (docs/configuration.md), then defaults:
    ``with Downloader() as d: d.download("resnet50", version="v1.0")``.

    Args:
        store: The store: a local path, an fsspec URL or a ``model_fetch.storage.Store``
            (``MODEL_FETCH_HOME``, else the user cache directory).
        offline: Serve installed models only (``MODEL_FETCH_OFFLINE``, ``HF_HUB_OFFLINE``).
        max_store_bytes: A quota on the store's size (``MODEL_FETCH_MAX_STORE_SIZE``).
        lock_timeout: Seconds to wait for a concurrent download of the same version.
        repository: The repository index for source ``default`` (``MODEL_FETCH_REPOSITORY``).
        local_registry: The registry root for source ``local`` (``MODEL_FETCH_LOCAL_REGISTRY``).
        storage_options: Options for the store's fsspec filesystem (credentials, endpoint).
        http: The HTTP client to share (one is created by default).
        clock: The clock used for backoff and stall detection (tests inject a fake one).
        sources: Sources by name (instances, or classes built with this downloader's
            :class:`SourceContext`), used instead of the registry's for those names.
        max_concurrent_downloads: Worker threads for :meth:`submit`; further jobs queue.
        mirror: A fleet mirror tried between the store and the origin: a URL or a
            :class:`MirrorConfig` (``MODEL_FETCH_MIRROR``; see docs/mirror.md).
        lease_ttl: Seconds a lease on an object store or mirror lives without renewal (60).
        verifiers: The verifiers that decide readiness, used instead of the registered ones
            (by default every verifier registered when a model is installed: the built-in
            checks, then plugins; see :func:`~model_fetch.install.available_verifiers`).
        signing: The signing rules and least signature policy, used instead of those read
            from ``MODEL_FETCH_SIGNING_CONFIG`` and friends at each install (docs/signing.md).
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | Store | None = None,
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
        mirror: str | MirrorConfig | Mirror | None = None,
        lease_ttl: float | None = None,
        verifiers: Sequence[Verifier] | None = None,
        signing: SigningConfig | None = None,
    ) -> None:
        """Create a downloader. Nothing is fetched or written until a download starts."""
        self.jobs = JobManager(self.run, max_concurrent_downloads)  #: the jobs of :meth:`submit`
        config = MirrorConfig(mirror) if isinstance(mirror, str) else mirror
        self.settings = Settings.load(
            mirror=config.url if config is not None else None,  # None: MODEL_FETCH_MIRROR
            lease_ttl=lease_ttl,
            home=store.url if isinstance(store, Store) else store,
            offline=offline,
            lock_timeout=lock_timeout,
            max_store_bytes=max_store_bytes,
            repository=repository,
            local_registry=local_registry,
        )
        # Close only what this downloader opened: given collaborators belong to the caller.
        self._owned: list[Callable[[], None]] = []
        if not isinstance(store, Store):
            store = Store(self.settings.home, self.settings, storage_options)
            self._owned.append(store.close)
        self.store = store
        self.mirror = _open_mirror(config, self.settings)
        if self.mirror is not None and self.mirror is not config:
            self._owned.append(self.mirror.store.close)
        self.http, self.clock = http or HttpClient(), clock or SystemClock()
        if http is None:
            self._owned.append(self.http.close)
        http, clock, cache = self.http, self.clock, self.store.local_cache_dir()
        context = SourceContext(settings=self.settings, http=http, cache_dir=cache, clock=clock)
        self._sources = SourceSet(context, sources)
        self._pipeline = Pipeline(
            self.settings,
            self.store,
            self._sources.get,
            http=http,
            clock=clock,
            mirror=self.mirror,
            verifiers=verifiers,
            signing=None if signing is None else lambda: signing,
        )
        self.inventory = Inventory(
            store=self.store, mirror=self.mirror, jobs=self.jobs, signing=signing
        )

    def close(self) -> None:
        """Cancel running jobs, then release the connection pool (if this downloader made it)."""
        self.jobs.shutdown(cancel=True)
        for close in self._owned:
            close()

    def __enter__(self) -> Self:
        """Return self."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the downloader."""
        self.close()

    def __repr__(self) -> str:
        """Show the store."""
        return f"Downloader(store={self.store.url!r})"

    def source(self, name: str) -> Source:
        """Return the source instance for a name, built on first use (or UnknownSource)."""
        return self._sources.get(name)

    def source_names(self) -> list[str]:
        """Names ``source`` may take: registered sources (built-ins, plugins) and injected ones."""
        return self._sources.names()

    def source_context(self) -> SourceContext:
        """The context this downloader gives its sources (settings, HTTP client, cache)."""
        return self._sources.context

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
            download_url: A direct URL; it overrides the lookup, whatever ``source`` says.
            source: Who resolves the request: ``default``, ``huggingface``, ``url``, ``local``...
            checksum: The expected digest, ``algo:hex`` (sha256, sha512, sha1, md5, blake2b) or a
                bare sha256 hex.
            force_download: Download again even if installed, replacing it atomically.
            if_exists: ``reuse`` (default) returns an intact installed version with no request;
                ``error`` raises :class:`ModelExists` instead.
            options: :class:`DownloadOptions`, or a dict of its fields (timeout, retries...).
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
        return self.run(_request(locals()), progress=progress)

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
        """Start a download in the worker pool; return its :class:`DownloadJob` at once.

        Takes :meth:`download`'s arguments, validated now (an installed version is refused now
        with ``if_exists="error"``). Identical requests in flight share one job.

        Raises:
            InvalidRequest: The request is malformed (400).
            ModelExists: Installed and ``if_exists="error"`` (409).
            DownloadInProgress: A different request for the same (name, version) is running.
        """
        return self.submit_request(_request(locals()))

    def submit_request(
        self, request: DownloadRequest, *, url_policy: UrlPolicy | None = None
    ) -> DownloadJob:
        """Submit a validated request (see :meth:`submit`); ``url_policy`` for untrusted ones."""
        self._pipeline.check_submission(request)
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
        """Run the pipeline for a validated request in this thread (``download`` and jobs do)."""
        return self._pipeline.run(
            request, progress=progress, cancel=cancel, on_plan=on_plan, url_policy=url_policy
        )

    # -- installed models: the inventory, whose docstrings say what each one raises ----------
    def list_models(self) -> list[InstalledModel]:
        """List every installed version, sorted by name then install time."""
        return self.inventory.list_models()

    def models_and_jobs(self) -> list[InstalledModel | DownloadJob]:
        """What ``GET /models`` and ``model-fetch list`` show: installed, running, failed."""
        return self.inventory.models_and_jobs()

    def info(self, name: str, version: str | None = None) -> ModelInfo:
        """Describe one installed version (the newest when ``version`` is None); 404 if none."""
        return self.inventory.info(name, version)

    def remove(self, name: str, version: str = "all", *, force: bool = False) -> RemovalResult:
        """Remove a version, ``latest`` or ``all``; ``force`` cancels downloads of it first.

        Raises:
            ModelNotFound: Nothing installed matches.
            DownloadInProgress: A download of it runs (here without ``force``, or elsewhere).
        """
        return self.inventory.remove(name, version, force=force)

    def verify(self, name: str, version: str | None = None) -> VerifyResult:
        """Re-hash an installed version's files (the newest when ``version`` is None)."""
        return self.inventory.verify(name, version)

    def prune_partials(self, older_than: float | None = None) -> tuple[int, int]:
        """Delete old partials and dead processes' staging; return how many, and bytes freed."""
        return self.inventory.prune_partials(older_than)

    def prune_objects(self, older_than: float | None = None) -> dict[str, int]:
        """Clear expired leases, orphans and abandoned uploads on object stores and the mirror."""
        return self.inventory.prune_objects(older_than)

    def push(self, name: str, version: str | None = None) -> InstallRecord:
        """Publish an installed version (the newest by default) to the mirror; return its record."""
        return self.inventory.push(name, version)

    def cache_info(self) -> CacheInfo:
        """Describe the store: capacity, installed models and the download area."""
        return self.inventory.cache_info()


def _open_mirror(mirror: MirrorConfig | Mirror | None, settings: Settings) -> Mirror | None:
    """The mirror given, or the one its configuration (or ``MODEL_FETCH_MIRROR``) names."""
    if mirror is not None and not isinstance(mirror, MirrorConfig):
        return mirror
    if not ((mirror is not None and mirror.url) or settings.mirror):
        return None  # no fleet: its code (the parallel copy, leases) is never imported
    from model_fetch._mirror import Mirror  # noqa: PLC0415 - only fleets need it

    return Mirror.open(mirror, settings)


def _request(arguments: dict[str, Any]) -> DownloadRequest:
    """The request download() and submit() build: their arguments named like its fields."""
    fields = {field.name: arguments[field.name] for field in attrs.fields(DownloadRequest)}
    return DownloadRequest(**{**fields, "metadata": fields["metadata"] or {}})
