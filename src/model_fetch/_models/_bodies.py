"""The wire bodies that no library result carries: a job's states, the listings, errors, health.

``DownloadJob.to_dict()`` answers a :class:`JobProgress` or :class:`JobFailed` (or the job's
:class:`~model_fetch.InstallResult`); the REST routes and the CLI build the others. Each renders
through ``model_fetch._contract``, like every other body.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from model_fetch._contract import body, computed, constant, render, wire
from model_fetch._models._results import InstalledModel  # noqa: TC001 - resolved at run time
from model_fetch._models._snapshot import Progress  # noqa: TC001 - resolved at run time

__all__ = [
    "ErrorDetail",
    "Health",
    "JobCancelled",
    "JobEntry",
    "JobFailed",
    "JobProgress",
    "JobStarted",
    "ModelListing",
    "PruneReport",
    "SourceListing",
]


class _Body:
    """Rendering, for the bodies defined here."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body."""
        return render(self)


@body(
    "StartedBody",
    'The contract\'s "Download Started" body.',
    constant("status", "started"),
    constant("message", "Model download started", annotation=str),
)
@attrs.frozen(kw_only=True)
class JobStarted(_Body):
    """A download that is still running when ``POST /model-download`` answers.

    Attributes:
        download_id: The job's id.
        model_name: The model's name.
        version: The resolved version (the requested one until the plan is known).
        estimated_size_bytes: The plan's total size; 0 while unknown.
        estimated_duration_seconds: Seconds left at the current speed; 0 while unknown.
        download_url: The redacted URL being downloaded.
        progress_endpoint: Where to poll, as the server routes it.
    """

    download_id: str
    model_name: str
    version: str
    estimated_size_bytes: int = attrs.field(metadata=wire(key="estimated_size_mb", mib=True))
    estimated_duration_seconds: float
    download_url: str
    progress_endpoint: str


@body(
    "ProgressBody",
    'The contract\'s "Download in Progress" body.',
    constant("status", "downloading"),
    computed("message", str),
)
@attrs.frozen(kw_only=True)
class JobProgress(_Body):
    """A job that is queued or running.

    Attributes:
        download_id: The job's id.
        model_name: The model's name.
        version: The version asked for.
        progress: The latest snapshot.
        queued: Whether it still waits for a worker.
    """

    download_id: str
    model_name: str
    version: str
    progress: Progress
    queued: bool = attrs.field(default=False, metadata=wire(hidden=True))

    @property
    def message(self) -> str:
        """``Download queued`` or ``Download in progress``."""
        return "Download queued" if self.queued else "Download in progress"


@body(
    "FailedBody",
    "A finished download that failed or was cancelled.",
    constant("status", "failed"),
    computed("message", str, attr="error"),
)
@attrs.frozen(kw_only=True)
class JobFailed(_Body):
    """A job that failed, or was cancelled (then ``cancelled`` is true).

    Attributes:
        download_id: The job's id.
        model_name: The model's name.
        version: The version asked for.
        error: The error's message (``Download cancelled`` when cancelled).
        cancelled: True when it was cancelled; None otherwise.
        status_code: The status code the error answers, when it failed.
    """

    download_id: str
    model_name: str
    version: str
    error: str
    cancelled: bool | None = attrs.field(default=None, metadata=wire(omit="none"))
    status_code: int | None = attrs.field(default=None, metadata=wire(omit="none"))


@body(
    "CancelBody",
    "The answer to ``DELETE /model-download/{download_id}``.",
    constant("status", "cancelled"),
    constant("message", "Download cancelled", annotation=str),
)
@attrs.frozen(kw_only=True)
class JobCancelled(_Body):
    """A cancel that stopped a running download.

    Attributes:
        download_id: The job's id.
    """

    download_id: str


@body("DownloadEntry", "A download in flight (loading) or recently failed in ``GET /models``.")
@attrs.frozen(kw_only=True)
class JobEntry(_Body):
    """A job as ``GET /models`` lists it.

    Attributes:
        name: The model's name.
        version: The version asked for.
        status: ``loading`` while it runs, ``failed`` when it failed.
        download_id: The job's id.
        error: The error's message, when it failed.
    """

    name: str
    version: str
    status: Literal["loading", "failed"]
    download_id: str
    error: str | None = attrs.field(default=None, metadata=wire(omit="none"))


@body("ModelsBody", "``GET /models``.", computed("total", int, after="models"))
@attrs.frozen(kw_only=True)
class ModelListing(_Body):
    """Installed versions, then downloads in flight and recent failures.

    Attributes:
        models: The entries, in order.
    """

    models: tuple[InstalledModel | JobEntry, ...]

    @property
    def total(self) -> int:
        """How many entries there are."""
        return len(self.models)


@body(
    "SourcesBody",
    "``GET /sources``: every source name a download may name, and the default one.",
)
@attrs.frozen(kw_only=True)
class SourceListing(_Body):
    """The source names a request may name.

    Attributes:
        sources: Built-ins and plugins, sorted.
        default: The source used when a request names none.
    """

    sources: tuple[str, ...]
    default: str


@body("HealthBody", "``GET /health``.", constant("status", "ok"))
@attrs.frozen(kw_only=True)
class Health(_Body):
    """The liveness answer.

    Attributes:
        version: model_fetch's version.
    """

    version: str


@body("ErrorBody", 'Every error: ``{"detail": "..."}``.')
@attrs.frozen(kw_only=True)
class ErrorDetail(_Body):
    """An error body.

    Attributes:
        detail: The error's message.
    """

    detail: str


@body("PruneBody", "The result of ``model-fetch cache-prune --json``.")
@attrs.frozen(kw_only=True)
class PruneReport(_Body):
    """What a prune removed.

    Attributes:
        removed_partial_downloads: Partial downloads deleted.
        freed_bytes: Bytes they held.
        expired_leases: Expired leases cleared (object stores).
        orphaned_generations: Orphaned generations deleted (object stores).
        abandoned_uploads: Abandoned multipart uploads aborted (object stores).
    """

    removed_partial_downloads: int
    freed_bytes: int = attrs.field(metadata=wire(key="freed_mb", mib=True))
    expired_leases: int
    orphaned_generations: int
    abandoned_uploads: int
