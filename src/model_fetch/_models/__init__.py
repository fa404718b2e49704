"""Frozen values: requests, options, plans, progress snapshots, results and the other wire bodies.

Every value that goes on the wire is a body of ``model_fetch._contract``: its ``to_dict()`` is
exactly the JSON body of the REST contract (``model-download.md`` and ``related-endpoints.md``).
Sizes in the contract are MiB (2**20 bytes).

- ``_request``: :class:`DownloadRequest` and :class:`DownloadOptions` (the table of option
  defaults and caps);
- ``_plan``: :class:`Plan` and :class:`RemoteFile`, what a source resolves a request into;
- ``_snapshot``: :class:`Progress`;
- ``_results``: what the downloader returns (install, listing, info, removal, cache, verify);
- ``_signature``: the ``signature`` policy and :class:`SignatureCheck`;
- ``_bodies``: the bodies no result carries (a job's states, listings, errors, health).
"""

from model_fetch._contract import MIB, iso_timestamp, parse_timestamp, to_mb
from model_fetch._models._bodies import (
    ErrorDetail,
    Health,
    JobCancelled,
    JobEntry,
    JobFailed,
    JobProgress,
    JobStarted,
    ModelListing,
    PruneReport,
    SourceListing,
)
from model_fetch._models._plan import Plan, RemoteFile
from model_fetch._models._request import (
    DEDUPE,
    DEFAULT_CONNECTIONS,
    DEFAULT_PARALLEL_MIN_SIZE,
    DownloadOptions,
    DownloadRequest,
    IfExists,
    dedupe_key,
)
from model_fetch._models._results import (
    CachedModel,
    CacheInfo,
    FileRecord,
    InstalledModel,
    InstallResult,
    ModelInfo,
    RemovalResult,
    VerifyResult,
)
from model_fetch._models._signature import (
    SIGNATURE_POLICIES,
    SignatureCheck,
    SignatureMethod,
    SignaturePolicy,
    strictest,
)
from model_fetch._models._snapshot import Progress, Stage

__all__ = [
    "DEDUPE",
    "DEFAULT_CONNECTIONS",
    "DEFAULT_PARALLEL_MIN_SIZE",
    "MIB",
    "SIGNATURE_POLICIES",
    "CacheInfo",
    "CachedModel",
    "DownloadOptions",
    "DownloadRequest",
    "ErrorDetail",
    "FileRecord",
    "Health",
    "IfExists",
    "InstallResult",
    "InstalledModel",
    "JobCancelled",
    "JobEntry",
    "JobFailed",
    "JobProgress",
    "JobStarted",
    "ModelInfo",
    "ModelListing",
    "Plan",
    "Progress",
    "PruneReport",
    "RemoteFile",
    "RemovalResult",
    "SignatureCheck",
    "SignatureMethod",
    "SignaturePolicy",
    "SourceListing",
    "Stage",
    "VerifyResult",
    "dedupe_key",
    "iso_timestamp",
    "parse_timestamp",
    "strictest",
    "to_mb",
]
