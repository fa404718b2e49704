"""Frozen values: requests, options, plans, progress snapshots and results.

Every result has a ``to_dict()`` that is exactly the JSON body of the REST contract
(``model-download.md`` and ``related-endpoints.md``). Sizes in the contract are MiB (2**20 bytes).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from model_fetch._paths import (
    ModelName,
    RelPath,
    Version,
    validate_name,
    validate_relpath,
    validate_version,
)
from model_fetch.checksums import Checksum, parse_checksum
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from attrs import AttrsInstance

__all__ = [
    "DEDUPE",
    "CacheInfo",
    "CachedModel",
    "DownloadOptions",
    "DownloadRequest",
    "FileRecord",
    "InstallResult",
    "InstalledModel",
    "ModelInfo",
    "Plan",
    "Progress",
    "RemoteFile",
    "RemovalResult",
    "Stage",
    "VerifyResult",
    "dedupe_key",
]

MIB: Final = 1024 * 1024
DEFAULT_CONNECTIONS: Final = 1
#: Files at least this large may be split over ``connections`` (64 MiB).
DEFAULT_PARALLEL_MIN_SIZE: Final = 64 * 1024 * 1024
Stage = Literal["downloading", "verifying", "installing"]
IfExists = Literal["reuse", "error"]

#: Field metadata key of the dedupe rule: ``metadata={DEDUPE: False}`` marks a field that cannot
#: change a job's outcome (which bytes are installed, how, and whether the download fails), so
#: requests differing only there share one job. Every other field is part of :func:`dedupe_key`.
DEDUPE: Final = "dedupe"


def dedupe_key(value: AttrsInstance) -> tuple[Any, ...]:
    """The fields of an attrs value that change a job's outcome, nested values included.

    Derived from the fields themselves, so a new field joins the key unless it is marked
    ``metadata={"dedupe": False}``.
    """
    return tuple(
        (field.name, dedupe_key(item) if attrs.has(type(item)) else item)
        for field in attrs.fields(type(value))
        if field.metadata.get(DEDUPE, True)
        for item in (getattr(value, field.name),)
    )


def to_mb(size: float) -> float:
    """Return a byte count in the contract's MB (MiB), rounded to one decimal as it shows them."""
    return round(size / MIB, 1)


def iso_timestamp(moment: dt.datetime) -> str:
    """Format a moment as the contract does: ``2025-08-14T10:35:22.000Z``."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse a timestamp written by :func:`iso_timestamp`."""
    return dt.datetime.fromisoformat(text)


def _strict_int(name: str, low: int, high: int) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"options.{name} must be an integer")
        if not low <= value <= high:
            raise InvalidRequest(f"options.{name} must be between {low} and {high}, not {value}")

    return check


def _strict_number(name: str, low: float, high: float) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"options.{name} must be a number")
        if not low < value <= high:
            raise InvalidRequest(f"options.{name} must be above {low} and at most {high}")

    return check


def _patterns(name: str) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, list | tuple) or not all(
            isinstance(item, str) and item for item in value
        ):
            raise InvalidRequest(f"options.{name} must be a list of non-empty glob strings")

    return check


def _to_patterns(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    raise InvalidRequest("file patterns must be a list of glob strings")


def _strict_bool(name: str) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidRequest(f"options.{name} must be true or false")

    return check


@attrs.frozen(kw_only=True)
class DownloadOptions:
    """The contract's advanced options, with its defaults.

    Attributes:
        chunk_size: Progress granularity in bytes, and a lower bound on the read buffer. The
            engine reads in buffers of ``max(chunk_size, 256 KiB)``; a progress snapshot is
            emitted after at least ``chunk_size`` new bytes and at most ten times a second.
        timeout: Seconds for connecting, for each read, and for the stall guard: if less than
            1 KiB arrives in any ``timeout``-second window, the attempt is aborted.
        retry_count: Retries after the first attempt, with exponential backoff and jitter, on
            connection errors, 5xx and 429 (honouring Retry-After). Other 4xx are not retried.
        verify_ssl: Whether to verify TLS certificates.
        extract_after_download: Extract archives after download (takes effect with installers).
        cleanup_temp_files: Remove temporary and staging files after the install.
        allow_patterns: model_fetch extra: install only files matching one of these globs
            (``fnmatch``; ``*`` matches across ``/``), as huggingface_hub's snapshot_download.
        ignore_patterns: model_fetch extra: skip files matching one of these globs.
        connections: model_fetch extra: parallel connections for a large file (64 MiB or more)
            on a server that supports ranges (1 to 16). 1 by default: as polite to a CDN as
            huggingface_hub and curl, and on a fast link one stream is faster (measured: 452
            against 367 MB/s over loopback). Raise it (4 to 8) for servers that cap each
            connection.
        parallel_min_size: model_fetch extra: the smallest file, in bytes, that is split over
            several connections (64 MiB by default; at least 1 MiB). Smaller files gain little
            from splitting: each range costs a request and a round trip.
        allow_torchscript: model_fetch extra (library and CLI only): let the readiness check
            load TorchScript archives with ``torch.jit.load``, which runs their code.
    """

    # Progress granularity and a floor on the read buffer: timing, not outcome.
    chunk_size: int = attrs.field(
        default=8192, validator=_strict_int("chunk_size", 1, 1 << 26), metadata={"dedupe": False}
    )
    timeout: float = attrs.field(default=300, validator=_strict_number("timeout", 0, 86_400))
    retry_count: int = attrs.field(default=3, validator=_strict_int("retry_count", 0, 100))
    verify_ssl: bool = attrs.field(default=True, validator=_strict_bool("verify_ssl"))
    extract_after_download: bool = attrs.field(
        default=True,
        validator=_strict_bool("extract_after_download"),
    )
    cleanup_temp_files: bool = attrs.field(
        default=True, validator=_strict_bool("cleanup_temp_files")
    )
    allow_patterns: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_to_patterns,
        validator=_patterns("allow_patterns"),
    )
    ignore_patterns: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_to_patterns,
        validator=_patterns("ignore_patterns"),
    )

    connections: int = attrs.field(
        default=DEFAULT_CONNECTIONS, validator=_strict_int("connections", 1, 16)
    )
    parallel_min_size: int = attrs.field(
        default=DEFAULT_PARALLEL_MIN_SIZE,
        validator=_strict_int("parallel_min_size", 1 << 20, 1 << 50),
    )
    allow_torchscript: bool = attrs.field(
        default=False, validator=_strict_bool("allow_torchscript")
    )

    def selects(self, path: str) -> bool:
        """Tell whether a file path passes ``allow_patterns`` and ``ignore_patterns``."""
        if self.allow_patterns is not None and not any(
            fnmatch.fnmatchcase(path, pattern) for pattern in self.allow_patterns
        ):
            return False
        return not (
            self.ignore_patterns is not None
            and any(fnmatch.fnmatchcase(path, pattern) for pattern in self.ignore_patterns)
        )

    @classmethod
    def from_mapping(cls, options: DownloadOptions | dict[str, Any] | None) -> DownloadOptions:
        """Build options from a JSON-like mapping, refusing unknown keys.

        Raises:
            InvalidRequest: An unknown key, or a value of the wrong type or range.
        """
        if options is None:
            return cls()
        if isinstance(options, DownloadOptions):
            return options
        if not isinstance(options, dict):
            raise InvalidRequest("options must be an object")
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise InvalidRequest(f"Unknown option(s) {names}; known: {', '.join(sorted(known))}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as JSON: the contract's keys, plus model_fetch's extras when set."""
        data = attrs.asdict(self)
        if not data["allow_torchscript"]:
            del data["allow_torchscript"]
        if data["connections"] == DEFAULT_CONNECTIONS:
            del data["connections"]
        if data["parallel_min_size"] == DEFAULT_PARALLEL_MIN_SIZE:
            del data["parallel_min_size"]
        for key in ("allow_patterns", "ignore_patterns"):
            if data[key] is None:
                del data[key]
            else:
                data[key] = list(data[key])
        return data


def _to_options(value: DownloadOptions | dict[str, Any] | None) -> DownloadOptions:
    return DownloadOptions.from_mapping(value)


def _to_files(value: Iterable[RemoteFile]) -> tuple[RemoteFile, ...]:
    return tuple(value)


def _validate_metadata(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise InvalidRequest("metadata must be an object with string keys")


@attrs.frozen(kw_only=True)
class DownloadRequest:
    """A validated download request: the contract's request body.

    Attributes:
        model_name: The model's name (``name`` or ``org/name``).
        version: The version asked for (``latest`` by default).
        download_url: A direct URL that overrides the repository lookup, whatever ``source`` says.
        source: The source plugin that resolves the request.
        checksum: The expected digest of the (single) file, if given.
        force_download: Re-download even if the version is installed.
        if_exists: ``reuse`` returns an installed version at once; ``error`` raises ModelExists.
        options: The advanced options.
        metadata: Free-form metadata stored in the install record.
    """

    model_name: ModelName = attrs.field(converter=validate_name)
    version: Version = attrs.field(default=Version("latest"), converter=validate_version)
    download_url: str | None = None
    source: str = "default"
    checksum: Checksum | None = attrs.field(default=None, converter=parse_checksum)
    force_download: bool = False
    # Judged at submission (an installed version is refused up front); while a job is in flight
    # the version is not installed, so "reuse" and "error" submissions get the same outcome.
    if_exists: IfExists = attrs.field(default="reuse", metadata={"dedupe": False})
    options: DownloadOptions = attrs.field(
        factory=DownloadOptions,
        converter=_to_options,
    )
    metadata: dict[str, Any] = attrs.field(
        factory=dict, validator=_validate_metadata, metadata={"dedupe": False}
    )

    def __attrs_post_init__(self) -> None:
        """Check the fields that have no converter."""
        if self.download_url is not None and (
            not isinstance(self.download_url, str) or not self.download_url.strip()
        ):
            raise InvalidRequest("download_url must be a non-empty string")
        if not isinstance(self.source, str) or not self.source:
            raise InvalidRequest("source must be a non-empty string")
        if not isinstance(self.force_download, bool):
            raise InvalidRequest("force_download must be true or false")
        if self.if_exists not in ("reuse", "error"):
            raise InvalidRequest("if_exists must be 'reuse' or 'error'")

    @property
    def effective_source(self) -> str:
        """The source that resolves this request: ``url`` whenever ``download_url`` is given."""
        return "url" if self.download_url else self.source


def _to_checksums(value: Iterable[Checksum | str] | Checksum | str | None) -> tuple[Checksum, ...]:
    if value is None:
        return ()
    if isinstance(value, Checksum | str):
        value = [value]
    parsed = (item if isinstance(item, Checksum) else parse_checksum(item) for item in value)
    return tuple(dict.fromkeys(item for item in parsed if item is not None))


_PREFIX = re.compile(r"[0-9a-f]{8,64}")


def _check_prefix(_: object, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _PREFIX.fullmatch(value):
        raise InvalidRequest(f"sha256_prefix {value!r} must be 8 to 64 lower-case hex digits")


@attrs.frozen(kw_only=True)
class RemoteFile:
    """One file a plan fetches.

    Attributes:
        url: Where to fetch it: an http(s) URL, or any fsspec URL.
        path: Its relative path inside the installed model.
        size: Its size in bytes, when known in advance (then it is verified).
        checksums: Every expected digest that is known; each one is verified.
        sha256_prefix: The leading hex digits of the sha256, when only those are published
            (torchvision's file names carry one); verified too.
        headers: Extra request headers for this file (a hub token). Credentials are sent to the
            file's own origin only, never across a redirect to another origin.
    """

    url: str
    path: RelPath = attrs.field(converter=validate_relpath)
    size: int | None = None
    checksums: tuple[Checksum, ...] = attrs.field(default=(), converter=_to_checksums)
    sha256_prefix: str | None = attrs.field(default=None, validator=_check_prefix)
    headers: dict[str, str] = attrs.field(factory=dict, repr=False)

    @property
    def verifiable(self) -> bool:
        """Whether a digest (full or prefix) will be checked against the bytes."""
        return bool(self.checksums) or self.sha256_prefix is not None

    def with_checksum(self, checksum: Checksum | None) -> RemoteFile:
        """Return a copy that also verifies ``checksum`` (the caller's own digest)."""
        if checksum is None:
            return self
        return attrs.evolve(self, checksums=(*self.checksums, checksum))


@attrs.frozen(kw_only=True)
class Plan:
    """What a source resolved a request into.

    Attributes:
        files: The files to fetch, at least one.
        version: The resolved version (a repository's "latest" becomes its concrete version).
        download_url: The URL to report (the file's URL, or the model's page for many files).
        source: The name of the source that made the plan.
    """

    files: tuple[RemoteFile, ...] = attrs.field(converter=_to_files)
    version: Version = attrs.field(converter=validate_version)
    download_url: str
    source: str

    def __attrs_post_init__(self) -> None:
        """Refuse an empty plan or duplicate paths."""
        if not self.files:
            raise InvalidRequest("A plan must list at least one file")
        paths = [file.path for file in self.files]
        if len(set(paths)) != len(paths):
            raise InvalidRequest("A plan lists the same file path twice")

    @property
    def total_size(self) -> int | None:
        """The plan's total size in bytes, or None if any file's size is unknown."""
        sizes = [file.size for file in self.files]
        if any(size is None for size in sizes):
            return None
        return sum(size for size in sizes if size is not None)


@attrs.frozen(kw_only=True)
class Progress:
    """An immutable progress snapshot with the contract's fields.

    Every field is always a number (0 while unknown), as the contract's clients format them.

    Attributes:
        percentage: 0 to 100.
        downloaded_mb: MiB received so far.
        total_mb: MiB expected (0 while unknown).
        speed_mbps: MiB per second, a moving average over the last few seconds.
        eta_seconds: Seconds left at the current speed (0 while unknown).
        current_stage: ``downloading``, ``verifying`` or ``installing``.
        downloaded_bytes: Bytes received so far.
        total_bytes: Bytes expected, or 0 while unknown.
        bytes_from: Where the bytes come from when a fleet mirror is configured: ``"mirror"``
            or ``"origin"`` (None without a mirror).
    """

    percentage: float = 0.0
    downloaded_mb: float = 0.0
    total_mb: float = 0.0
    speed_mbps: float = 0.0
    eta_seconds: float = 0.0
    current_stage: Stage = "downloading"
    downloaded_bytes: int = 0
    total_bytes: int = 0
    bytes_from: Literal["mirror", "origin"] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's progress object (plus ``bytes_from`` when a mirror is used)."""
        body: dict[str, Any] = {
            "percentage": self.percentage,
            "downloaded_mb": self.downloaded_mb,
            "total_mb": self.total_mb,
            "speed_mbps": self.speed_mbps,
            "eta_seconds": self.eta_seconds,
            "current_stage": self.current_stage,
        }
        if self.bytes_from is not None:
            body["bytes_from"] = self.bytes_from
        return body


@attrs.frozen(kw_only=True)
class FileRecord:
    """One installed file, as the install record lists it.

    Attributes:
        path: Relative path inside the model.
        size: Size in bytes.
        sha256: Hex sha256 of its bytes.
    """

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """Return the record's JSON object."""
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@attrs.frozen(kw_only=True)
class InstallResult:
    """The contract's "Download Completed" body.

    Attributes:
        model_name: The model's name.
        version: The installed version.
        file_path: The installed file (one-file models) or the model's directory.
        size_bytes: Total installed size in bytes.
        download_duration_seconds: Wall time of the download and install (0 when reused).
        checksum_verified: True only when a digest was checked against the bytes.
        installed_at: When the version was installed.
        model_id: The contract's model identifier.
        ready_for_inference: Whether a real model check passed (see ``readiness``).
        readiness: Which check ran, and why it is not ready when it is not.
        reused: True when an installed version was returned without a download.
        source: The source that resolved the request.
        download_url: The redacted URL the model came from.
        directory: The directory holding the model's files.
    """

    model_name: str
    version: str
    file_path: str
    size_bytes: int
    download_duration_seconds: float
    checksum_verified: bool
    installed_at: dt.datetime
    model_id: str
    ready_for_inference: bool
    readiness: dict[str, Any]
    reused: bool = False
    source: str = ""
    download_url: str = ""
    directory: str = ""

    @property
    def message(self) -> str:
        """The human-readable message of the contract's body."""
        if self.reused:
            return "Model already installed; returned the installed copy"
        return "Model downloaded and installed successfully"

    def to_dict(self) -> dict[str, Any]:
        """Return exactly the contract's "Download Completed" JSON body."""
        return {
            "status": "completed",
            "message": self.message,
            "model_name": self.model_name,
            "version": self.version,
            "file_path": self.file_path,
            "file_size_mb": to_mb(self.size_bytes),
            "download_duration_seconds": round(self.download_duration_seconds, 3),
            "checksum_verified": self.checksum_verified,
            "installation": {
                "status": "success",
                "installed_at": iso_timestamp(self.installed_at),
                "model_id": self.model_id,
                "ready_for_inference": self.ready_for_inference,
            },
        }


@attrs.frozen(kw_only=True)
class InstalledModel:
    """One installed version, as ``GET /models`` lists it.

    Attributes:
        name: The model's name.
        version: The version.
        model_id: The contract's model identifier.
        source: The source it came from.
        size_bytes: Installed size in bytes.
        installed_at: When it was installed.
        ready_for_inference: Whether a real model check passed.
    """

    name: str
    version: str
    model_id: str
    source: str
    size_bytes: int
    installed_at: dt.datetime
    ready_for_inference: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's entry in ``GET /models``."""
        return {
            "name": self.name,
            "version": self.version,
            "status": "available",
            "model_id": self.model_id,
            "source": self.source,
            "size_mb": to_mb(self.size_bytes),
            "installed_at": iso_timestamp(self.installed_at),
            "ready_for_inference": self.ready_for_inference,
        }


@attrs.frozen(kw_only=True)
class ModelInfo:
    """Everything known about one installed version (``GET /model-info``).

    Attributes:
        name: The model's name.
        version: The version described.
        versions: Every installed version of the model, oldest install first.
        model_id: The contract's model identifier.
        source: The source it came from.
        download_url: The redacted URL it came from.
        file_path: The installed file or directory.
        files: The installed files with size and sha256.
        size_bytes: Installed size in bytes.
        installed_at: When it was installed.
        checksum_verified: Whether a digest was checked when it was downloaded.
        ready_for_inference: Whether a real model check passed.
        readiness: Which check ran and, when not ready, why.
        metadata: The metadata given with the request.
        directory: The directory holding the files.
    """

    name: str
    version: str
    versions: tuple[str, ...]
    model_id: str
    source: str
    download_url: str
    file_path: str
    files: tuple[FileRecord, ...]
    size_bytes: int
    installed_at: dt.datetime
    checksum_verified: bool
    ready_for_inference: bool
    readiness: dict[str, Any]
    metadata: dict[str, Any]
    directory: str

    def to_dict(self) -> dict[str, Any]:
        """Return the body of ``GET /model-info/{model_name}``."""
        return {
            "name": self.name,
            "version": self.version,
            "versions": list(self.versions),
            "model_id": self.model_id,
            "source": self.source,
            "download_url": self.download_url,
            "file_path": self.file_path,
            "files": [file.to_dict() for file in self.files],
            "size_mb": to_mb(self.size_bytes),
            "installed_at": iso_timestamp(self.installed_at),
            "checksum_verified": self.checksum_verified,
            "ready_for_inference": self.ready_for_inference,
            "readiness": dict(self.readiness),
            "metadata": dict(self.metadata),
        }


@attrs.frozen(kw_only=True)
class RemovalResult:
    """The outcome of removing one or all versions (``DELETE /model-remove``).

    Attributes:
        model_name: The model's name.
        version: The version asked for (``all``, ``latest`` resolved, or a version).
        removed_versions: The versions removed.
        removed_files: Paths of the files deleted.
        freed_bytes: Bytes freed.
        removed_at: When the removal finished.
        remaining_versions: Versions still installed.
    """

    model_name: str
    version: str
    removed_versions: tuple[str, ...]
    removed_files: tuple[str, ...]
    freed_bytes: int
    removed_at: dt.datetime
    remaining_versions: tuple[str, ...]

    @property
    def status(self) -> str:
        """``completely_removed``, ``removed`` or ``version_removed``, as the contract defines."""
        if self.version == "all":
            return "completely_removed"
        return "version_removed" if self.remaining_versions else "removed"

    @property
    def message(self) -> str:
        """The human-readable message."""
        if self.status == "completely_removed":
            return f"All versions of model '{self.model_name}' removed"
        if self.status == "removed":
            return f"Model '{self.model_name}' removed (version '{self.version}' was its last)"
        return f"Version '{self.version}' of model '{self.model_name}' removed"

    def to_dict(self) -> dict[str, Any]:
        """Return the body of ``DELETE /model-remove/{model_name}``."""
        return {
            "status": self.status,
            "message": self.message,
            "model_name": self.model_name,
            "version": self.version,
            "removal_details": {
                "files_deleted": bool(self.removed_files),
                "removed_at": iso_timestamp(self.removed_at),
                "disk_space_freed_mb": to_mb(self.freed_bytes),
                "removed_files": list(self.removed_files),
            },
            "remaining_versions": list(self.remaining_versions),
        }


@attrs.frozen(kw_only=True)
class CachedModel:
    """One entry of ``model_cache.models_cached``.

    Attributes:
        model_name: The model's name.
        version: The version.
        size_bytes: Installed size.
        last_accessed: When it was installed or last reused.
    """

    model_name: str
    version: str
    size_bytes: int
    last_accessed: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's object."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "cache_size_mb": to_mb(self.size_bytes),
            "last_accessed": iso_timestamp(self.last_accessed),
        }


@attrs.frozen(kw_only=True)
class CacheInfo:
    """The state of the store (``GET /cache-info``).

    Attributes:
        cache_directory: The store root.
        total_bytes: Capacity: the quota if one is set, else the disk's used plus available
            bytes (space reserved for root is neither), 0 if unknown.
        used_bytes: Capacity in use (the store's size under a quota, else the disk's used bytes).
        available_bytes: Capacity left.
        models: Installed versions.
        download_bytes: Bytes held by partial and staging files.
        download_entries: Number of partial and staging entries.
        partial_downloads: Resumable partial files kept for interrupted downloads.
        completed_downloads: Completed downloads kept in the download area (kept archives).
        last_updated: When this snapshot was taken.
    """

    cache_directory: str
    total_bytes: int
    used_bytes: int
    available_bytes: int
    models: tuple[CachedModel, ...]
    download_bytes: int
    download_entries: int
    partial_downloads: int
    completed_downloads: int
    last_updated: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the body of ``GET /cache-info``."""
        models_size = sum(model.size_bytes for model in self.models)
        percentage = (
            round(100.0 * self.used_bytes / self.total_bytes, 1) if self.total_bytes else 0.0
        )
        return {
            "cache_info": {
                "cache_directory": self.cache_directory,
                "total_cache_size_mb": to_mb(self.total_bytes),
                "used_cache_size_mb": to_mb(self.used_bytes),
                "available_cache_size_mb": to_mb(self.available_bytes),
                "cache_usage_percentage": percentage,
                "last_updated": iso_timestamp(self.last_updated),
            },
            "model_cache": {
                "enabled": True,
                "current_size_mb": to_mb(models_size),
                "entry_count": len(self.models),
                "models_cached": [model.to_dict() for model in self.models],
            },
            "download_cache": {
                "enabled": True,
                "current_size_mb": to_mb(self.download_bytes),
                "entry_count": self.download_entries,
                "partial_downloads": self.partial_downloads,
                "completed_downloads": self.completed_downloads,
            },
        }


@attrs.frozen(kw_only=True)
class VerifyResult:
    """The outcome of re-checking an installed version against its install record.

    Attributes:
        model_name: The model's name.
        version: The version checked.
        checked_files: How many files were re-hashed.
        missing: Files the record lists that are gone.
        mismatched: Files whose size or sha256 no longer match, as
            ``{"path", "expected_sha256", "actual_sha256", "expected_size", "actual_size"}``.
    """

    model_name: str
    version: str
    checked_files: int
    missing: tuple[str, ...]
    mismatched: tuple[dict[str, Any], ...]

    @property
    def ok(self) -> bool:
        """Whether every file is present and intact."""
        return not self.missing and not self.mismatched

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "status": "ok" if self.ok else "corrupted",
            "checked_files": self.checked_files,
            "missing": list(self.missing),
            "mismatched": [dict(item) for item in self.mismatched],
        }
