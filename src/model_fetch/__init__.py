"""model_fetch: fast, verified, atomic model downloads.

The public API is what this module exports in ``__all__``; everything in a module whose name
starts with ``_`` is private and may change without notice.
"""

import logging

from model_fetch._clock import Clock, SystemClock
from model_fetch._downloader import Downloader
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
    VerifyResult,
)
from model_fetch.checksums import Checksum, parse_checksum
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
    UnknownSource,
)
from model_fetch.sources import Source, SourceContext, available_sources, register_source

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
    "ModelExists",
    "ModelFetchError",
    "ModelInfo",
    "ModelNotFound",
    "OfflineModeError",
    "Plan",
    "Progress",
    "RemoteFile",
    "RemovalResult",
    "Source",
    "SourceContext",
    "SystemClock",
    "UnknownSource",
    "VerifyResult",
    "__version__",
    "available_sources",
    "parse_checksum",
    "register_source",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
