"""The results: an install, the installed models, a removal, the store's state, a verification.

Each is a wire body (``model_fetch._contract``): ``to_dict()`` is exactly the JSON body of the REST
contract (``model-download.md`` and ``related-endpoints.md``). Python keeps exact byte counts;
the wire shows MiB.
"""

from __future__ import annotations

import datetime as dt  # noqa: TC003 - the contract resolves field types at run time
from typing import Any, Literal

import attrs

from model_fetch._contract import Group, body, computed, constant, render, wire
from model_fetch._models._signature import SignatureCheck  # noqa: TC001 - resolved at run time

__all__ = [
    "CacheInfo",
    "CachedModel",
    "FileRecord",
    "InstallResult",
    "InstalledModel",
    "ModelInfo",
    "RemovalResult",
    "VerifyResult",
]

_HIDDEN = wire(hidden=True)


@body("FileEntry", "One installed file.")
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
        return render(self)


@body(
    "CompletedBody",
    'The contract\'s "Download Completed" body.',
    constant("status", "completed"),
    computed("message", str),
    constant(
        "status",
        "success",
        annotation=Literal["success", "failed", "pending"],
        group="installation",
    ),
    groups={
        "installation": Group(name="InstallationBody", doc="The contract's installation object.")
    },
)
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
        signature: Who signed the installed files and how; None (and no key on the wire)
            when no signature was verified.
    """

    model_name: str
    version: str
    file_path: str
    size_bytes: int = attrs.field(metadata=wire(key="file_size_mb", mib=True))
    download_duration_seconds: float = attrs.field(metadata=wire(digits=3))
    checksum_verified: bool
    installed_at: dt.datetime = attrs.field(metadata=wire(group="installation"))
    model_id: str = attrs.field(metadata=wire(group="installation"))
    ready_for_inference: bool = attrs.field(metadata=wire(group="installation"))
    readiness: dict[str, Any] = attrs.field(metadata=_HIDDEN)
    reused: bool = attrs.field(default=False, metadata=_HIDDEN)
    source: str = attrs.field(default="", metadata=_HIDDEN)
    download_url: str = attrs.field(default="", metadata=_HIDDEN)
    directory: str = attrs.field(default="", metadata=_HIDDEN)
    signature: SignatureCheck | None = attrs.field(default=None, metadata=wire(omit="none"))

    @property
    def message(self) -> str:
        """The human-readable message of the contract's body."""
        if self.reused:
            return "Model already installed; returned the installed copy"
        return "Model downloaded and installed successfully"

    def to_dict(self) -> dict[str, Any]:
        """Return exactly the contract's "Download Completed" JSON body."""
        return render(self)


@body(
    "ModelEntry",
    "One installed version in ``GET /models``.",
    constant("status", "available", after="version"),
)
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
        signature: Who signed the installed files and how; None (and no key on the wire)
            when no signature was verified.
    """

    name: str
    version: str
    model_id: str
    source: str
    size_bytes: int = attrs.field(metadata=wire(key="size_mb", mib=True))
    installed_at: dt.datetime
    ready_for_inference: bool
    signature: SignatureCheck | None = attrs.field(default=None, metadata=wire(omit="none"))

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's entry in ``GET /models``."""
        return render(self)


@body("ModelInfoBody", "``GET /model-info/{model_name}``.")
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
        signature: Who signed the installed files and how; None (and no key on the wire)
            when no signature was verified.
    """

    name: str
    version: str
    versions: tuple[str, ...]
    model_id: str
    source: str
    download_url: str
    file_path: str
    files: tuple[FileRecord, ...]
    size_bytes: int = attrs.field(metadata=wire(key="size_mb", mib=True))
    installed_at: dt.datetime
    checksum_verified: bool
    ready_for_inference: bool
    readiness: dict[str, Any]
    metadata: dict[str, Any]
    directory: str = attrs.field(metadata=_HIDDEN)
    signature: SignatureCheck | None = attrs.field(default=None, metadata=wire(omit="none"))

    def to_dict(self) -> dict[str, Any]:
        """Return the body of ``GET /model-info/{model_name}``."""
        return render(self)


_DETAILS = "removal_details"


@body(
    "RemovalBody",
    "``DELETE /model-remove/{model_name}``.",
    computed("status", Literal["version_removed", "removed", "completely_removed"]),
    computed("message", str),
    computed("files_deleted", bool, group=_DETAILS),
    groups={_DETAILS: Group(name="RemovalDetails", doc="The contract's removal details.")},
)
@attrs.frozen(kw_only=True)
class RemovalResult:
    """The outcome of removing one or all versions (``DELETE /model-remove``).

    Attributes:
        model_name: The model's name.
        version: The version asked for (``all``, ``latest`` resolved, or a version).
        removed_versions: The versions removed.
        removed_at: When the removal finished.
        freed_bytes: Bytes freed.
        removed_files: Paths of the files deleted.
        remaining_versions: Versions still installed.
    """

    model_name: str
    version: str
    removed_versions: tuple[str, ...] = attrs.field(metadata=_HIDDEN)
    removed_at: dt.datetime = attrs.field(metadata=wire(group=_DETAILS))
    freed_bytes: int = attrs.field(
        metadata=wire(key="disk_space_freed_mb", mib=True, group=_DETAILS)
    )
    removed_files: tuple[str, ...] = attrs.field(metadata=wire(group=_DETAILS))
    remaining_versions: tuple[str, ...]

    @property
    def status(self) -> Literal["version_removed", "removed", "completely_removed"]:
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

    @property
    def files_deleted(self) -> bool:
        """Whether any file was deleted."""
        return bool(self.removed_files)

    def to_dict(self) -> dict[str, Any]:
        """Return the body of ``DELETE /model-remove/{model_name}``."""
        return render(self)


@body("CachedModel", "One entry of ``model_cache.models_cached``.")
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
    size_bytes: int = attrs.field(metadata=wire(key="cache_size_mb", mib=True))
    last_accessed: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's object."""
        return render(self)


_STORE, _MODELS, _DOWNLOADS = "cache_info", "model_cache", "download_cache"


@body(
    "CacheInfoBody",
    "``GET /cache-info``.",
    computed(
        "cache_usage_percentage",
        float,
        attr="usage_percentage",
        group=_STORE,
        after="available_bytes",
    ),
    constant("enabled", value=True, annotation=bool, group=_MODELS),
    computed("current_size_mb", float, attr="models_bytes", group=_MODELS, mib=True),
    computed("entry_count", int, attr="model_count", group=_MODELS),
    constant("enabled", value=True, annotation=bool, group=_DOWNLOADS),
    groups={
        _STORE: Group(name="CacheSummary", doc="The store's capacity."),
        _MODELS: Group(name="ModelCacheInfo", doc="The installed versions."),
        _DOWNLOADS: Group(
            name="DownloadCacheInfo", doc="The download area: partial and kept files."
        ),
    },
)
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
        deduplicated_bytes: Bytes that sharing identical files saves on disk: the installed
            versions' sizes added up, less the bytes their files take with each file stored
            once (hard links and huggingface_hub's blobs counted once). 0 on object stores,
            where each version keeps its own object (sharing there saves the transfer and the
            upload, not storage).
        download_bytes: Bytes held by partial and staging files.
        download_entries: Number of partial and staging entries.
        partial_downloads: Resumable partial files kept for interrupted downloads.
        completed_downloads: Completed downloads kept in the download area (kept archives).
        last_updated: When this snapshot was taken.
    """

    cache_directory: str = attrs.field(metadata=wire(group=_STORE))
    total_bytes: int = attrs.field(metadata=wire(key="total_cache_size_mb", mib=True, group=_STORE))
    used_bytes: int = attrs.field(metadata=wire(key="used_cache_size_mb", mib=True, group=_STORE))
    available_bytes: int = attrs.field(
        metadata=wire(key="available_cache_size_mb", mib=True, group=_STORE)
    )
    models: tuple[CachedModel, ...] = attrs.field(metadata=wire(key="models_cached", group=_MODELS))
    deduplicated_bytes: int = attrs.field(
        metadata=wire(key="deduplicated_size_mb", mib=True, group=_MODELS)
    )
    download_bytes: int = attrs.field(
        metadata=wire(key="current_size_mb", mib=True, group=_DOWNLOADS)
    )
    download_entries: int = attrs.field(metadata=wire(key="entry_count", group=_DOWNLOADS))
    partial_downloads: int = attrs.field(metadata=wire(group=_DOWNLOADS))
    completed_downloads: int = attrs.field(metadata=wire(group=_DOWNLOADS))
    last_updated: dt.datetime = attrs.field(metadata=wire(group=_STORE))

    @property
    def usage_percentage(self) -> float:
        """Capacity in use, in percent with one decimal (0 when the capacity is unknown)."""
        if not self.total_bytes:
            return 0.0
        return round(100.0 * self.used_bytes / self.total_bytes, 1)

    @property
    def models_bytes(self) -> int:
        """Bytes of the installed versions."""
        return sum(model.size_bytes for model in self.models)

    @property
    def model_count(self) -> int:
        """How many versions are installed."""
        return len(self.models)

    def to_dict(self) -> dict[str, Any]:
        """Return the body of ``GET /cache-info``."""
        return render(self)


@body(
    "VerifyBody",
    "The result of re-checking an installed version (``model-fetch verify --json``).",
    computed("status", Literal["ok", "corrupted"], after="version"),
)
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
        signature: The install's signature, re-verified over the files on disk (None when it
            was installed without a verified signature).
        signature_error: Why the signature no longer verifies (None when it does, or when
            there was none to re-check).
    """

    model_name: str
    version: str
    checked_files: int
    missing: tuple[str, ...]
    mismatched: tuple[dict[str, Any], ...]
    signature: SignatureCheck | None = attrs.field(default=None, metadata=wire(omit="none"))
    signature_error: str | None = attrs.field(default=None, metadata=wire(omit="none"))

    @property
    def ok(self) -> bool:
        """Whether every file is present and intact, and a signature still verifies."""
        return not self.missing and not self.mismatched and self.signature_error is None

    @property
    def status(self) -> Literal["ok", "corrupted"]:
        """``ok`` when every file is intact (and signed as installed), else ``corrupted``."""
        return "ok" if self.ok else "corrupted"

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON (``model-fetch verify --json``)."""
        return render(self)
