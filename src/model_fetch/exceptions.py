"""The errors model_fetch raises.

Every error derives from :class:`ModelFetchError`, and every leaf maps to exactly one REST status
code and one CLI exit code (see :data:`ERROR_TABLE`)::

    ModelFetchError
    ├── InvalidRequest (ValueError)          400  exit 2
    │   └── UnknownSource                    400  exit 2
    ├── ModelNotFound (LookupError)          404  exit 3
    │   └── OfflineModeError                 404  exit 3
    ├── ModelExists                          409  exit 4
    ├── DownloadInProgress                   409  exit 4
    ├── InsufficientStorage (OSError)        413  exit 5
    ├── StoreUnavailable                     500  exit 1
    └── DownloadFailed                       500  exit 1
        ├── ChecksumMismatch                 500  exit 1
        └── DownloadCancelled                500  exit 130

Leaves carry the facts of the failure as attributes (URL, expected and actual digest, byte counts,
attempts) so callers never parse messages. Every error pickles cleanly, so it survives a process
pool or a job queue.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ERROR_TABLE",
    "ChecksumMismatch",
    "DownloadCancelled",
    "DownloadFailed",
    "DownloadInProgress",
    "InsufficientStorage",
    "InvalidRequest",
    "ModelExists",
    "ModelFetchError",
    "ModelNotFound",
    "OfflineModeError",
    "StoreUnavailable",
    "UnknownSource",
]


def _rebuild(cls: type[ModelFetchError], message: str, facts: dict[str, Any]) -> ModelFetchError:
    """Recreate an error from its message and facts (the pickle hook)."""
    return cls(message, **facts)


class ModelFetchError(Exception):
    """Base class of every error model_fetch raises.

    Attributes:
        message: The one-line, human-readable description (already redacted of secrets).
        status_code: The HTTP status code the REST API answers with for this error.
        exit_code: The exit code of the ``model-fetch`` command for this error.
    """

    status_code: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, **facts: Any) -> None:
        """Create the error.

        Args:
            message: What went wrong, in one line.
            **facts: Attributes describing the failure (for example ``url=...``).
        """
        super().__init__(message)
        self.message = message
        self._facts = dict(facts)
        for key, value in facts.items():
            setattr(self, key, value)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as (class, message, facts) so keyword-only facts survive."""
        return (_rebuild, (type(self), self.message, self._facts))

    def __str__(self) -> str:
        """Return the message."""
        return self.message


class InvalidRequest(ModelFetchError, ValueError):
    """The request is malformed: a bad name, version, checksum, option or URL (400)."""

    status_code = 400
    exit_code = 2


class UnknownSource(InvalidRequest):
    """The ``source`` names no registered source (400).

    Attributes:
        source: The name that was asked for.
        available: The names that are registered.
    """

    source: str
    available: list[str]


class ModelNotFound(ModelFetchError, LookupError):
    """The model or version does not exist where it was looked for (404).

    Attributes:
        model_name: The model asked for.
        version: The version asked for, or None.
    """

    status_code = 404
    exit_code = 3


class OfflineModeError(ModelNotFound):
    """Offline mode is on and the model is not installed, so nothing may be fetched (404).

    Attributes:
        variable: The environment variable (or argument) that turned offline mode on.
    """


class ModelExists(ModelFetchError):
    """The version is already installed and the request asked not to reuse it (409)."""

    status_code = 409
    exit_code = 4


class DownloadInProgress(ModelFetchError):
    """Another download of the same (name, version) holds the lock (409)."""

    status_code = 409
    exit_code = 4


class InsufficientStorage(ModelFetchError, OSError):
    """The store has no room for the model (413).

    Attributes:
        required_bytes: Bytes the model needs (None when unknown).
        available_bytes: Bytes free in the store (after any quota).
    """

    status_code = 413
    exit_code = 5


class StoreUnavailable(ModelFetchError):
    """A store or mirror on object storage cannot be used (500).

    Raised for a missing bucket or denied access (a missing bucket is never created), a lease
    wait that timed out, an unreachable mirror under ``mirror_required``, and a mirror on a
    filesystem that cannot do conditional writes.

    Attributes:
        url: The store's or mirror's URL.
    """

    status_code = 500
    exit_code = 1


class DownloadFailed(ModelFetchError):
    """The transfer failed after its retries, or the install could not complete (500).

    Attributes:
        url: The redacted URL that failed, when there is one.
        attempts: How many attempts were made, when a transfer was tried.
        bytes_received: Bytes received on the last attempt.
    """

    status_code = 500
    exit_code = 1


class ChecksumMismatch(DownloadFailed):
    """The bytes received do not match the expected digest; nothing was installed (500).

    Attributes:
        url: The redacted URL of the file.
        path: The file's relative path in the model.
        algorithm: The digest algorithm.
        expected: The expected hex digest.
        actual: The hex digest of the bytes received.
    """


class DownloadCancelled(DownloadFailed):
    """The download was cancelled; nothing was installed.

    Raised by ``DownloadJob.result()`` after ``cancel()`` or the REST DELETE. The REST API
    reports it as ``failed`` with ``"cancelled": true``.
    """

    exit_code = 130


ERROR_TABLE: tuple[tuple[type[ModelFetchError], int, int], ...] = tuple(
    (cls, cls.status_code, cls.exit_code)
    for cls in (
        UnknownSource,
        InvalidRequest,
        OfflineModeError,
        ModelNotFound,
        ModelExists,
        DownloadInProgress,
        InsufficientStorage,
        StoreUnavailable,
        ChecksumMismatch,
        DownloadCancelled,
        DownloadFailed,
        ModelFetchError,
    )
)
"""Each error class with its REST status code and CLI exit code, most specific first."""
