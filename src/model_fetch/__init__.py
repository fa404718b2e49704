"""model_fetch: fast, verified, atomic model downloads.

The public API is what this module exports in ``__all__``; everything in a module whose name
starts with ``_`` is private and may change without notice.
"""

from __future__ import annotations

import importlib

from model_fetch.exceptions import (
    ChecksumMismatch,
    DownloadCancelled,
    DownloadFailed,
    DownloadInProgress,
    InsufficientStorage,
    InvalidRequest,
    ModelExists,
    ModelFetchError,
    ModelNotFound,
    OfflineModeError,
    SignatureInvalid,
    StoreUnavailable,
    UnknownSource,
)

# typing.TYPE_CHECKING without importing typing (and with it re and enum): mypy reads it the same.
TYPE_CHECKING = False
if TYPE_CHECKING:  # the names below load on first use, so `import model_fetch` stays light
    from typing import Any

    from model_fetch._clock import Clock, SystemClock
    from model_fetch._config import MirrorConfig
    from model_fetch._downloader import Downloader
    from model_fetch._fetch import fetch
    from model_fetch._jobs import DownloadJob
    from model_fetch._models import (
        CachedModel,
        CacheInfo,
        DownloadOptions,
        DownloadRequest,
        FileRecord,
        InstalledModel,
        InstallResult,
        ModelInfo,
        Plan,
        Progress,
        RemoteFile,
        RemovalResult,
        SignatureCheck,
        VerifyResult,
    )
    from model_fetch.checksums import Checksum, parse_checksum
    from model_fetch.sources import Source, SourceContext, available_sources, register_source

del TYPE_CHECKING  # not a public name

_LAZY: dict[str, str] = {
    "Clock": "model_fetch._clock",
    "SystemClock": "model_fetch._clock",
    "MirrorConfig": "model_fetch._config",
    "Downloader": "model_fetch._downloader",
    "fetch": "model_fetch._fetch",
    "DownloadJob": "model_fetch._jobs",
    **dict.fromkeys(
        (
            "CachedModel",
            "CacheInfo",
            "DownloadOptions",
            "DownloadRequest",
            "FileRecord",
            "InstalledModel",
            "InstallResult",
            "ModelInfo",
            "Plan",
            "Progress",
            "RemoteFile",
            "RemovalResult",
            "SignatureCheck",
            "VerifyResult",
        ),
        "model_fetch._models",
    ),
    "Checksum": "model_fetch.checksums",
    "parse_checksum": "model_fetch.checksums",
    **dict.fromkeys(
        ("Source", "SourceContext", "available_sources", "register_source"),
        "model_fetch.sources",
    ),
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'model_fetch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names, loaded or not."""
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "CacheInfo",
    "CachedModel",
    "Checksum",
    "ChecksumMismatch",
    "Clock",
    "DownloadCancelled",
    "DownloadFailed",
    "DownloadInProgress",
    "DownloadJob",
    "DownloadOptions",
    "DownloadRequest",
    "Downloader",
    "FileRecord",
    "InstallResult",
    "InstalledModel",
    "InsufficientStorage",
    "InvalidRequest",
    "MirrorConfig",
    "ModelExists",
    "ModelFetchError",
    "ModelInfo",
    "ModelNotFound",
    "OfflineModeError",
    "Plan",
    "Progress",
    "RemoteFile",
    "RemovalResult",
    "SignatureCheck",
    "SignatureInvalid",
    "Source",
    "SourceContext",
    "StoreUnavailable",
    "SystemClock",
    "UnknownSource",
    "VerifyResult",
    "__version__",
    "available_sources",
    "fetch",
    "parse_checksum",
    "register_source",
]
