"""Download jobs: the pipeline in a bounded worker pool, with live progress, sharing and cancel.

Each submission gets its own :class:`DownloadJob` (its own ``download_id`` and its own cancel);
identical requests in flight share the underlying work. The work is cancelled only when every
submission that joined it has cancelled. A different request for a (name, version) already in
flight is refused with :class:`~model_fetch.DownloadInProgress` (409): it must never be handed bytes
that were not checked against its own checksum.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
import urllib.parse
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import attrs

from model_fetch._cancel import CancelEvent, check_cancelled
from model_fetch._log import get_logger, redact_url
from model_fetch._models import (
    MIB,
    JobEntry,
    JobFailed,
    JobProgress,
    Progress,
    dedupe_key,
    iso_timestamp,
)
from model_fetch._slots import FairSlots, host_share
from model_fetch.exceptions import (
    DownloadCancelled,
    DownloadFailed,
    DownloadInProgress,
    InvalidRequest,
    ModelFetchError,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

    from model_fetch._models import DownloadRequest, InstallResult, Plan
    from model_fetch.transfer import UrlPolicy

__all__ = ["DownloadJob", "JobManager", "JobStatus", "RunPipeline"]

log = get_logger(__name__)

JobStatus = Literal["started", "downloading", "completed", "failed", "cancelled"]

#: How many finished jobs are kept for clients to read their final state.
KEEP_FINISHED: Final = 512
#: How long a new request waits for a cancelled download of the same version to stop.
_STOPPING_WAIT: Final = 10.0
#: How long a finished job is kept, in seconds.
KEEP_SECONDS: Final = 3600.0


class RunPipeline(Protocol):
    """What a job runs: the whole pipeline for one request (:meth:`Downloader.run`'s shape)."""

    def __call__(
        self,
        request: DownloadRequest,
        *,
        progress: Callable[[Progress], None] | None = ...,
        cancel: threading.Event | None = ...,
        on_plan: Callable[[Plan], None] | None = ...,
        url_policy: UrlPolicy | None = ...,
    ) -> InstallResult:
        """Run the request to its result, reporting progress and the plan, stopping on cancel."""
        ...


def _new_id() -> str:
    return "dwnld_" + secrets.token_hex(8)


def _origin_of(request: DownloadRequest) -> tuple[str, ...]:
    """The host whose share of the worker slots a request uses (its source, without a URL)."""
    if request.download_url is None:
        return ("source", request.source)
    parts = urllib.parse.urlsplit(request.download_url)
    try:
        port = str(parts.port or "")
    except ValueError:  # the policy or the transfer refuses it; any key will do meanwhile
        port = ""
    return ("url", parts.scheme.lower(), parts.hostname or "", port)


def _request_key(request: DownloadRequest) -> tuple[Any, ...]:
    """Every field that can change a job's outcome, derived from the request's attrs fields."""
    return dedupe_key(request)


class _Work:
    """One pipeline run that one or more jobs share."""

    def __init__(self, request: DownloadRequest, policy: UrlPolicy | None) -> None:
        self.request = request
        self.policy = policy
        self.key = _request_key(request)
        self.cancel_event = CancelEvent()
        self.done = threading.Event()
        self.plan_known = threading.Event()
        self.lock = threading.Lock()
        self.members: list[DownloadJob] = []
        self.progress = Progress()
        self.plan: Plan | None = None
        self.result: InstallResult | None = None
        self.error: ModelFetchError | None = None
        self.running = False
        self.started_at = time.monotonic()

    def on_progress(self, snapshot: Progress) -> None:
        with self.lock:
            # Never backwards, whatever a retry or a new stage reports.
            if snapshot.downloaded_bytes >= self.progress.downloaded_bytes:
                self.progress = snapshot
            else:
                self.progress = attrs.evolve(
                    snapshot, downloaded_bytes=self.progress.downloaded_bytes
                )
            self.running = True

    def on_plan(self, plan: Plan) -> None:
        with self.lock:
            self.plan = plan
            self.running = True
        self.plan_known.set()


class DownloadJob:
    """A submitted download: its id, status, live progress, result, wait and cancel.

    Attributes:
        download_id: ``dwnld_`` followed by random hex.
        request: The request that was submitted.
        created_at: When it was submitted.
    """

    def __init__(self, work: _Work, request: DownloadRequest) -> None:
        """Join a unit of work (use :meth:`Downloader.submit`)."""
        self._work = work
        self.request = request
        self.download_id = _new_id()
        self.created_at = dt.datetime.now(dt.UTC)
        self._cancelled = False
        self.finished_at: float | None = None

    def __repr__(self) -> str:
        """Show the id, the model and the status."""
        return f"DownloadJob({self.download_id}, {self.request.model_name!r}, {self.status})"

    @property
    def status(self) -> JobStatus:
        """``started``, ``downloading``, ``completed``, ``failed`` or ``cancelled``."""
        if self._cancelled:
            return "cancelled"
        work = self._work
        if work.done.is_set():
            if work.result is not None:
                return "completed"
            return "cancelled" if isinstance(work.error, DownloadCancelled) else "failed"
        return "downloading" if work.running else "started"

    @property
    def progress(self) -> Progress:
        """The latest progress snapshot (every field a number; 0 while unknown)."""
        with self._work.lock:
            return self._work.progress

    @property
    def plan(self) -> Plan | None:
        """The source's plan, once it is known."""
        return self._work.plan

    @property
    def error(self) -> ModelFetchError | None:
        """The error the job failed with, if it failed (or was cancelled)."""
        if self._cancelled:
            return DownloadCancelled("Download cancelled")
        return self._work.error if self._work.done.is_set() else None

    @property
    def done(self) -> bool:
        """Whether the job has finished (completed, failed or cancelled)."""
        return self._cancelled or self._work.done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job finishes; return whether it did within ``timeout`` seconds.

        A cancelled job whose cancel stopped the shared work waits until that work has cleaned
        up (nothing installed, staging removed); one that others still share returns at once.
        """
        if self._cancelled and not self._work.cancel_event.is_set():
            return True
        return self._work.done.wait(timeout)

    def wait_for_plan(self, timeout: float | None = None) -> bool:
        """Wait until the plan is known or the job finished; return whether either happened."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._work.plan_known.is_set() or self.done:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._work.plan_known.wait(0.05 if remaining is None else min(0.05, remaining))

    def result(self, timeout: float | None = None) -> InstallResult:
        """Wait for the job and return its result.

        Raises:
            TimeoutError: It did not finish within ``timeout`` seconds.
            ModelFetchError: The error it failed with (DownloadCancelled when cancelled).
        """
        if not self.wait(timeout):
            raise TimeoutError(f"{self.download_id} did not finish within {timeout} s")
        error = self.error
        if error is not None:
            raise error
        result = self._work.result
        if result is None:  # pragma: no cover - done without result implies an error
            raise DownloadFailed("Download failed")
        return result

    def cancel(self) -> bool:
        """Cancel this submission; the shared work stops once every joined submission cancelled.

        Returns:
            True if the job was still running (now cancelled), False if it had finished.
        """
        work = self._work
        with work.lock:
            if self._cancelled or work.done.is_set():
                return False
            self._cancelled = True
            self.finished_at = time.monotonic()
            if all(member._cancelled for member in work.members):  # noqa: SLF001 - same class
                work.cancel_event.set()
        return True

    @property
    def download_url(self) -> str:
        """The redacted URL being downloaded (the plan's, or the request's until then)."""
        plan = self._work.plan
        url = plan.download_url if plan is not None else (self.request.download_url or "")
        return redact_url(url) if url else ""

    @property
    def estimated_size_bytes(self) -> int:
        """The plan's total size, or the size the server announced; 0 while unknown."""
        plan = self._work.plan
        if plan is not None and plan.total_size is not None:
            return plan.total_size
        return self.progress.total_bytes

    @property
    def estimated_duration_seconds(self) -> float:
        """Seconds left at the current speed; 0 while unknown."""
        progress = self.progress
        if progress.speed_mbps <= 0:
            return 0.0
        left = max(0, self.estimated_size_bytes - progress.downloaded_bytes)
        return round(left / (progress.speed_mbps * MIB), 1)

    def to_dict(self) -> dict[str, Any]:
        """The REST contract's body for this job's current state (progress endpoint)."""
        status = self.status
        request = self.request
        if status == "completed":
            return self._work.result.to_dict() if self._work.result else {}
        if status in ("failed", "cancelled"):
            error = self.error
            cancelled = status == "cancelled"
            return JobFailed(
                download_id=self.download_id,
                model_name=request.model_name,
                version=request.version,
                error="Download cancelled" if cancelled else str(error),
                cancelled=True if cancelled else None,
                status_code=None if cancelled or error is None else error.status_code,
            ).to_dict()
        return JobProgress(
            download_id=self.download_id,
            model_name=request.model_name,
            version=request.version,
            progress=self.progress,
            queued=status == "started",
        ).to_dict()

    def listing_entry(self) -> JobEntry:
        """This job's entry in ``GET /models`` and ``model-fetch list --json``."""
        error = self.error if self.done else None
        return JobEntry(
            name=self.request.model_name,
            version=self.request.version,
            status="failed" if self.done else "loading",
            download_id=self.download_id,
            error=None if error is None else str(error),
        )

    def created_iso(self) -> str:
        """When the job was submitted, as the contract writes timestamps."""
        return iso_timestamp(self.created_at)


class JobManager:
    """Runs the pipeline for submitted requests in a bounded pool and keeps the jobs' state.

    Args:
        run: The pipeline each job runs (a downloader passes its :meth:`Downloader.run`).
        max_concurrent_downloads: Worker threads; further jobs wait in a queue (``started``).
    """

    def __init__(self, run: RunPipeline, max_concurrent_downloads: int) -> None:
        """Create the manager; the pool and its threads start with the first job.

        Raises:
            InvalidRequest: ``max_concurrent_downloads`` is not between 1 and 64.
        """
        if isinstance(max_concurrent_downloads, bool) or not 1 <= max_concurrent_downloads <= 64:  # noqa: PLR2004
            raise InvalidRequest("max_concurrent_downloads must be between 1 and 64")
        self._run_pipeline = run
        self._workers = max_concurrent_downloads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._active: dict[tuple[Any, ...], _Work] = {}
        self._jobs: OrderedDict[str, DownloadJob] = OrderedDict()
        self._slots: FairSlots[_Work] = FairSlots(
            max_concurrent_downloads, host_share(max_concurrent_downloads), self._start
        )

    def submit(self, request: DownloadRequest, *, policy: UrlPolicy | None = None) -> DownloadJob:
        """Start (or join) the work for a request; refuse a conflicting one with 409.

        Args:
            request: The validated request.
            policy: The URL policy for an untrusted request (the REST API passes one).
        """
        key = _request_key(request)
        deadline = time.monotonic() + _STOPPING_WAIT
        while True:
            with self._lock:
                self._prune()
                work = self._active.get(key)
                if work is not None and not work.cancel_event.is_set() and work.policy == policy:
                    job = DownloadJob(work, request)
                    with work.lock:
                        work.members.append(job)
                    self._jobs[job.download_id] = job
                    return job
                conflict = self._conflict(request)
                if conflict is None:
                    work = _Work(request, policy)
                    job = DownloadJob(work, request)
                    work.members.append(job)
                    self._active[key] = work
                    self._jobs[job.download_id] = job
                    break
                if not conflict.cancel_event.is_set():
                    raise DownloadInProgress(
                        f"A different download of model '{request.model_name}' version "
                        f"'{request.version}' is in progress",
                        model_name=request.model_name,
                        version=request.version,
                    )
            # A cancelled download of the same version is still cleaning up: let it finish.
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not conflict.done.wait(remaining):
                raise DownloadInProgress(
                    f"A cancelled download of model '{request.model_name}' version "
                    f"'{request.version}' is still stopping; try again shortly",
                    model_name=request.model_name,
                    version=request.version,
                )
        self._slots.put(_origin_of(request), work)
        return job

    def _start(self, work: _Work) -> None:
        """Hand a work whose turn came to a worker thread (the slots' lock is held)."""
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - light import

                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="model_fetch-job")
            pool = self._pool
        pool.submit(self._run_in_slot, work)

    def _run_in_slot(self, work: _Work) -> None:
        try:
            self._run(work)
        finally:
            self._slots.finished(_origin_of(work.request))

    def _conflict(self, request: DownloadRequest) -> _Work | None:
        """Work in flight for the same (name, version), if any (lock held)."""
        for other in self._active.values():
            same_model = other.request.model_name == request.model_name
            if same_model and other.request.version == request.version:
                return other
        return None

    def _run(self, work: _Work) -> None:
        try:
            check_cancelled(work.cancel_event)
            work.result = self._run_pipeline(
                work.request,
                progress=work.on_progress,
                cancel=work.cancel_event,
                on_plan=work.on_plan,
                url_policy=work.policy,
            )
        except ModelFetchError as exc:
            work.error = exc
        except Exception as exc:  # a worker thread must record every failure, never die silently
            log.exception("Download job failed unexpectedly")
            # The job's body goes to remote callers: an OSError's text names local paths, so
            # only the error's type is said here; the log has the rest, the cause keeps it.
            error = DownloadFailed(
                f"Download failed: an internal error ({type(exc).__name__}); see the server log"
            )
            error.__cause__ = exc
            work.error = error
        finally:
            now = time.monotonic()
            with self._lock:
                if self._active.get(work.key) is work:
                    del self._active[work.key]
                for member in work.members:
                    member.finished_at = member.finished_at or now
            work.done.set()
            work.plan_known.set()

    def get(self, download_id: str) -> DownloadJob | None:
        """The job with that id, if it is running or finished recently."""
        with self._lock:
            return self._jobs.get(download_id)

    def jobs(self) -> list[DownloadJob]:
        """Every job known, oldest first."""
        with self._lock:
            self._prune()
            return list(self._jobs.values())

    def active_for(self, name: str, version: str | None = None) -> list[DownloadJob]:
        """Jobs of a model (and version) that are still running."""
        return [
            job
            for job in self.jobs()
            if not job.done
            and job.request.model_name == name
            and (version is None or job.request.version == version)
        ]

    def _prune(self) -> None:
        """Forget finished jobs beyond the count or past the age limit (lock held)."""
        now = time.monotonic()
        finished = [job for job in self._jobs.values() if job.done and job.finished_at is not None]
        excess = len(finished) - KEEP_FINISHED
        for job in finished:
            if excess > 0 or now - (job.finished_at or now) > KEEP_SECONDS:
                self._jobs.pop(job.download_id, None)
                excess -= 1

    def shutdown(self, *, cancel: bool = True) -> None:
        """Stop the pool: cancel running work (by default) and wait for the workers."""
        with self._lock:
            pending = list(self._active.values())
        if cancel:
            self._slots.close()
            for work in pending:
                work.cancel_event.set()
        else:
            for work in pending:
                work.done.wait()
            self._slots.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
        for work in pending:
            if not work.done.is_set():  # queued work whose turn never came
                work.error = DownloadCancelled("Download cancelled")
                work.done.set()
                work.plan_known.set()
