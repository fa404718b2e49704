"""Request and response bodies of the REST API, as pydantic models (they also make the OpenAPI).

Requests are validated exactly as the contract's tables say, with model_fetch's documented extra
option keys and caps on everything an untrusted client controls. Integers accept JSON numbers
with no fractional part (``8192`` and ``8192.0``) but never booleans or strings.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr

from model_fetch._paths import NAME_PATTERN, VERSION_PATTERN
from model_fetch.checksums import CHECKSUM_PATTERN

#: Source names: the registry accepts any, but plugins and built-ins use this alphabet.
SOURCE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
URL_PATTERN: Final = r"^[hH][tT][tT][pP][sS]?://\S+$"

__all__ = [
    "CAPS",
    "CacheInfoBody",
    "CancelBody",
    "CompletedBody",
    "DownloadBody",
    "ErrorBody",
    "FailedBody",
    "HealthBody",
    "ModelInfoBody",
    "ModelsBody",
    "OptionsBody",
    "ProgressBody",
    "RemovalBody",
    "RemoveBody",
    "SourcesBody",
    "StartedBody",
]

#: The caps on what a request may ask for; a value beyond one is a 400.
CAPS: Final[dict[str, int]] = {
    "chunk_size": 16 * 1024 * 1024,
    "timeout": 3600,
    "retry_count": 10,
    "connections": 16,
    "metadata_bytes": 64 * 1024,
    "patterns": 64,
    "pattern_length": 256,
    "download_url_length": 4096,
}


def _json_int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")  # noqa: TRY004 - pydantic wants ValueError
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]
JsonNumber = Annotated[float, BeforeValidator(_json_number)]
Pattern = Annotated[StrictStr, Field(min_length=1, max_length=CAPS["pattern_length"])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptionsBody(_Strict):
    """The contract's ``options`` object, plus model_fetch's file patterns."""

    chunk_size: JsonInt = Field(8192, ge=1, le=CAPS["chunk_size"])
    timeout: JsonNumber = Field(300, gt=0, le=CAPS["timeout"])
    retry_count: JsonInt = Field(3, ge=0, le=CAPS["retry_count"])
    connections: JsonInt = Field(1, ge=1, le=CAPS["connections"])
    parallel_min_size: JsonInt = Field(64 * 1024 * 1024, ge=1 << 20, le=1 << 50)
    verify_ssl: StrictBool = True
    extract_after_download: StrictBool = True
    cleanup_temp_files: StrictBool = True
    allow_patterns: list[Pattern] | None = Field(None, min_length=1, max_length=CAPS["patterns"])
    ignore_patterns: list[Pattern] | None = Field(None, max_length=CAPS["patterns"])


class DownloadBody(_Strict):
    """The body of ``POST /model-download``."""

    model_name: StrictStr = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    version: StrictStr = Field("latest", min_length=1, max_length=200, pattern=VERSION_PATTERN)
    download_url: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=CAPS["download_url_length"],
        pattern=URL_PATTERN,
    )
    source: StrictStr = Field("default", pattern=SOURCE_PATTERN)
    checksum: StrictStr | None = Field(None, pattern=CHECKSUM_PATTERN)
    force_download: StrictBool = False
    options: OptionsBody | None = None
    metadata: dict[str, Any] | None = None


class RemoveBody(_Strict):
    """The optional body of ``DELETE /model-remove/{model_name}``."""

    confirm: Literal[True] = True
    force: StrictBool = False


class ErrorBody(BaseModel):
    """Every error: ``{"detail": "..."}``."""

    detail: str


class InstallationBody(BaseModel):
    """The contract's installation object."""

    status: Literal["success", "failed", "pending"]
    installed_at: str
    model_id: str
    ready_for_inference: bool


class CompletedBody(BaseModel):
    """The contract's "Download Completed" body."""

    status: Literal["completed"]
    message: str
    model_name: str
    version: str
    file_path: str
    file_size_mb: float
    download_duration_seconds: float
    checksum_verified: bool
    installation: InstallationBody


class StartedBody(BaseModel):
    """The contract's "Download Started" body."""

    status: Literal["started"]
    message: str
    download_id: str
    model_name: str
    version: str
    estimated_size_mb: float
    estimated_duration_seconds: float
    download_url: str
    progress_endpoint: str


class ProgressObject(BaseModel):
    """The contract's progress object."""

    percentage: float
    downloaded_mb: float
    total_mb: float
    speed_mbps: float
    eta_seconds: float
    current_stage: Literal["downloading", "verifying", "installing"]
    bytes_from: Literal["mirror", "origin"] | None = None


class ProgressBody(BaseModel):
    """The contract's "Download in Progress" body."""

    status: Literal["downloading"]
    message: str
    download_id: str
    model_name: str
    version: str
    progress: ProgressObject


class FailedBody(BaseModel):
    """A finished download that failed or was cancelled."""

    status: Literal["failed"]
    message: str
    download_id: str
    model_name: str
    version: str
    error: str
    cancelled: bool | None = None
    status_code: int | None = None


class CancelBody(BaseModel):
    """The answer to ``DELETE /model-download/{download_id}``."""

    status: Literal["cancelled"]
    message: str
    download_id: str


class ModelEntry(BaseModel):
    """One entry of ``GET /models``: installed, loading or failed."""

    name: str
    version: str
    status: Literal["available", "loading", "failed"]
    model_id: str | None = None
    source: str | None = None
    size_mb: float | None = None
    installed_at: str | None = None
    ready_for_inference: bool | None = None
    download_id: str | None = None
    error: str | None = None


class ModelsBody(BaseModel):
    """``GET /models``."""

    models: list[ModelEntry]
    total: int


class FileEntry(BaseModel):
    """One installed file."""

    path: str
    size: int
    sha256: str


class ModelInfoBody(BaseModel):
    """``GET /model-info/{model_name}``."""

    name: str
    version: str
    versions: list[str]
    model_id: str
    source: str
    download_url: str
    file_path: str
    files: list[FileEntry]
    size_mb: float
    installed_at: str
    checksum_verified: bool
    ready_for_inference: bool
    readiness: dict[str, Any]
    metadata: dict[str, Any]


class RemovalDetails(BaseModel):
    """The contract's removal details."""

    files_deleted: bool
    removed_at: str
    disk_space_freed_mb: float
    removed_files: list[str]


class RemovalBody(BaseModel):
    """``DELETE /model-remove/{model_name}``."""

    status: Literal["version_removed", "removed", "completely_removed"]
    message: str
    model_name: str
    version: str
    removal_details: RemovalDetails
    remaining_versions: list[str]


class CacheInfoBody(BaseModel):
    """``GET /cache-info``."""

    cache_info: dict[str, Any]
    model_cache: dict[str, Any]
    download_cache: dict[str, Any]


class SourcesBody(BaseModel):
    """``GET /sources``: every source name a download may name, and the default one."""

    sources: list[str]
    default: str


class HealthBody(BaseModel):
    """``GET /health``."""

    status: Literal["ok"]
    version: str
