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
        ├── SignatureInvalid                 500  exit 1
        └── DownloadCancelled                500  exit 130

Leaves carry the facts of the failure as attributes (URL, expected and actual digest, byte counts,
attempts) so callers never parse messages. Every error pickles cleanly, so it survives a process
pool or a job queue.
"""

from __future__ import annotations

# typing.TYPE_CHECKING without importing typing: `import model_fetch` loads this module only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
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
    "SignatureInvalid",
    "StoreUnavailable",
    "UnknownSource",
]


def _rebuild(cls: type[ModelFetchError], message: str, facts: dict[str, Any]) -> ModelFetchError:
    """Recreate an error from its message and facts (the pickle hook)."""
    return cls(message, **facts)


def _fact_names(cls: type[ModelFetchError]) -> tuple[str, ...]:
    """The keyword-only parameters of ``cls``'s constructor: the facts each instance carries."""
    import inspect  # noqa: PLC0415 - costly (ast, dis, tokenize); only pickling and facts need it

    parameters = inspect.signature(cls.__init__).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


class ModelFetchError(Exception):
    """Base class of every error model_fetch raises.

    Each leaf takes its facts as typed, keyword-only constructor parameters and keeps them as
    attributes of the same names, so a leaf cannot be raised without the data its callers read.

    Attributes:
        message: The one-line, human-readable description (already redacted of secrets).
        status_code: The HTTP status code the REST API answers with for this error.
        exit_code: The exit code of the ``model-fetch`` command for this error.
    """

    status_code: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        """Create the error.

        Args:
            message: What went wrong, in one line.
        """
        super().__init__(message)
        self.message = message

    @property
    def facts(self) -> dict[str, Any]:
        """The error's facts (its keyword-only constructor arguments) by name."""
        return {name: getattr(self, name) for name in _fact_names(type(self))}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as (class, message, facts) so keyword-only facts survive."""
        return (_rebuild, (type(self), self.message, self.facts))

    def __str__(self) -> str:
        """Return the message."""
        return self.message


class InvalidRequest(ModelFetchError, ValueError):
    """The request is malformed: a bad name, version, checksum, option or URL (400).

    Attributes:
        path: The local path at fault, when the request named one.
        candidates: The choices the request could have named, when it was ambiguous.
    """

    status_code = 400
    exit_code = 2

    def __init__(
        self, message: str, *, path: str | None = None, candidates: Sequence[str] = ()
    ) -> None:
        """Create the error.

        Args:
            message: What is wrong with the request.
            path: The local path at fault, if any.
            candidates: The choices an ambiguous request could have named.
        """
        super().__init__(message)
        self.path = path
        self.candidates = list(candidates)


class UnknownSource(InvalidRequest):
    """The ``source`` names no registered source (400).

    Attributes:
        source: The name that was asked for.
        available: The names that are registered.
    """

    def __init__(self, message: str, *, source: str, available: Sequence[str]) -> None:
        """Create the error.

        Args:
            message: What was asked for and what exists.
            source: The name that was asked for.
            available: The names that are registered.
        """
        super().__init__(message)
        self.source = source
        self.available = list(available)


class ModelNotFound(ModelFetchError, LookupError):
    """The model or version does not exist where it was looked for (404).

    Attributes:
        model_name: The model asked for, or None where a lookup had no name (a bare path, a URL
            fetched by the transfer engine).
        version: The version asked for, or None.
        url: The redacted URL that answered "not found", when there is one.
        path: The local path that holds no model, when one was looked at.
    """

    status_code = 404
    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        model_name: str | None,
        version: str | None = None,
        url: str | None = None,
        path: str | None = None,
    ) -> None:
        """Create the error.

        Args:
            message: What was not found, and where.
            model_name: The model asked for (None only where no name is known).
            version: The version asked for, if any.
            url: The redacted URL that answered "not found", if any.
            path: The local path that holds no model, if any.
        """
        super().__init__(message)
        self.model_name = model_name
        self.version = version
        self.url = url
        self.path = path


class OfflineModeError(ModelNotFound):
    """Offline mode is on and the model (or a file asked for) is not installed (404).

    Attributes:
        variable: The environment variable (or argument) that turned offline mode on.
    """

    def __init__(
        self, message: str, *, model_name: str, version: str | None, variable: str
    ) -> None:
        """Create the error.

        Args:
            message: What was asked for and why it cannot be fetched.
            model_name: The model asked for.
            version: The version asked for, if any.
            variable: What turned offline mode on.
        """
        super().__init__(message, model_name=model_name, version=version)
        self.variable = variable


class ModelExists(ModelFetchError):
    """The version is already installed and the request asked not to reuse it (409).

    Attributes:
        model_name: The model's name.
        version: The installed version.
    """

    status_code = 409
    exit_code = 4

    def __init__(self, message: str, *, model_name: str, version: str) -> None:
        """Create the error.

        Args:
            message: Which version is installed.
            model_name: The model's name.
            version: The installed version.
        """
        super().__init__(message)
        self.model_name = model_name
        self.version = version


class DownloadInProgress(ModelFetchError):
    """Another download of the same (name, version) is in flight or holds the lock (409).

    Attributes:
        model_name: The model's name.
        version: The version being downloaded, or None when any version of the model counts.
    """

    status_code = 409
    exit_code = 4

    def __init__(self, message: str, *, model_name: str, version: str | None) -> None:
        """Create the error.

        Args:
            message: What is in flight.
            model_name: The model's name.
            version: The version in flight, or None for every version of the model.
        """
        super().__init__(message)
        self.model_name = model_name
        self.version = version


class InsufficientStorage(ModelFetchError, OSError):
    """The store has no room for the model (413).

    Attributes:
        required_bytes: Bytes the model needs (None when unknown).
        available_bytes: Bytes free in the store (after any quota).
    """

    status_code = 413
    exit_code = 5

    def __init__(
        self, message: str, *, required_bytes: int | None, available_bytes: int | None
    ) -> None:
        """Create the error.

        Args:
            message: How much was needed and how much is free.
            required_bytes: Bytes the model needs, if known.
            available_bytes: Bytes free in the store, if known.
        """
        super().__init__(message)
        self.required_bytes = required_bytes
        self.available_bytes = available_bytes


class StoreUnavailable(ModelFetchError):
    """A store or mirror on object storage cannot be used (500).

    Raised for a missing bucket or denied access (a missing bucket is never created), a lease
    wait that timed out, an unreachable mirror that is required (``MirrorConfig(required=True)``),
    and a mirror on a filesystem that cannot do conditional writes.

    Attributes:
        url: The store's or mirror's URL.
    """

    status_code = 500
    exit_code = 1

    def __init__(self, message: str, *, url: str) -> None:
        """Create the error.

        Args:
            message: Which store, and why it cannot be used.
            url: The store's or mirror's URL.
        """
        super().__init__(message)
        self.url = url


class DownloadFailed(ModelFetchError):
    """The transfer failed after its retries, or the install could not complete (500).

    Attributes:
        url: The redacted URL that failed, when there is one.
        attempts: How many attempts were made, when a transfer was tried.
        bytes_received: Bytes received on the last attempt, when a transfer was tried.
    """

    status_code = 500
    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        attempts: int | None = None,
        bytes_received: int | None = None,
    ) -> None:
        """Create the error.

        Args:
            message: What failed.
            url: The redacted URL that failed, if any.
            attempts: How many attempts were made, if a transfer was tried.
            bytes_received: Bytes received on the last attempt, if a transfer was tried.
        """
        super().__init__(message)
        self.url = url
        self.attempts = attempts
        self.bytes_received = bytes_received


class ChecksumMismatch(DownloadFailed):
    """The bytes received do not match the expected digest; nothing was installed (500).

    Attributes:
        url: The redacted URL of the file.
        path: The file's relative path in the model.
        algorithm: The digest algorithm.
        expected: The expected hex digest.
        actual: The hex digest of the bytes received.
    """

    def __init__(
        self, message: str, *, url: str, path: str, algorithm: str, expected: str, actual: str
    ) -> None:
        """Create the error.

        Args:
            message: Which file, and both digests.
            url: The redacted URL of the file.
            path: The file's relative path in the model.
            algorithm: The digest algorithm.
            expected: The expected hex digest.
            actual: The hex digest of the bytes received.
        """
        super().__init__(message, url=url)
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class SignatureInvalid(DownloadFailed):
    """The model's signature is missing, wrong or does not cover its files; nothing installed (500).

    Attributes:
        model_name: The model's name.
        version: The version that was checked.
        reason: ``no-signature``, ``no-trust``, ``unreadable``, ``wrong-key``, ``wrong-identity``,
            ``not-covered`` (a file added or removed after signing) or ``digest-mismatch``.
        files: The files the reason names (extra, missing or changed files), sorted.
    """

    def __init__(
        self,
        message: str,
        *,
        model_name: str,
        version: str,
        reason: str,
        files: tuple[str, ...] = (),
    ) -> None:
        """Create the error.

        Args:
            message: What is wrong with the signature, naming the files involved.
            model_name: The model's name.
            version: The version that was checked.
            reason: The kind of failure (see the class docstring).
            files: The files the reason names.
        """
        super().__init__(message)
        self.model_name = model_name
        self.version = version
        self.reason = reason
        self.files = tuple(files)


class DownloadCancelled(DownloadFailed):
    """The download was cancelled; nothing was installed.

    Raised by ``DownloadJob.result()`` after ``cancel()`` or the REST DELETE. The REST API
    reports it as ``failed`` with ``"cancelled": true``.
    """

    exit_code = 130

    def __init__(self, message: str = "Download cancelled") -> None:
        """Create the error.

        Args:
            message: What was cancelled.
        """
        super().__init__(message)


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
        SignatureInvalid,
        DownloadCancelled,
        DownloadFailed,
        ModelFetchError,
    )
)
"""Each error class with its REST status code and CLI exit code, most specific first."""
