"""Hypothesis strategies shared across tests: names, versions, moments, and the wire values."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import attrs
from hypothesis import strategies as st

from model_fetch._contract import wire_of
from model_fetch._models import (
    CachedModel,
    CacheInfo,
    DownloadOptions,
    ErrorDetail,
    FileRecord,
    Health,
    InstalledModel,
    InstallResult,
    JobCancelled,
    JobEntry,
    JobFailed,
    JobProgress,
    JobStarted,
    ModelInfo,
    ModelListing,
    Progress,
    PruneReport,
    RemovalResult,
    SourceListing,
    VerifyResult,
)

_SEGMENT_ALPHABET = string.ascii_letters + string.digits + "_-"

#: Valid model names: ``name`` or ``org/name``.
names = st.builds(
    "/".join,
    st.lists(st.text(_SEGMENT_ALPHABET, min_size=1, max_size=20), min_size=1, max_size=2),
)
#: Valid versions, ``latest`` included.
versions = st.one_of(st.just("latest"), st.text(_SEGMENT_ALPHABET + ".", min_size=1, max_size=20))
texts = st.text(max_size=40)
sizes = st.integers(min_value=0, max_value=1 << 50)
counts = st.integers(min_value=0, max_value=10_000)
seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)
moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - made aware by timezones below
    max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001 - made aware by timezones below
    timezones=st.just(dt.UTC),
)
hex_digests = st.text("0123456789abcdef", min_size=64, max_size=64)
#: JSON objects, as metadata and readiness hold them.
json_objects = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=5,
    ),
    max_size=4,
)
stages = st.sampled_from(["downloading", "verifying", "installing"])


def _capped(field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    """Values within an option's caps, read from DownloadOptions' table."""
    rule = wire_of(field)
    if field.type is bool:
        return st.booleans()
    if rule.max_items is not None:
        patterns = st.lists(
            st.text(min_size=1, max_size=rule.item_length),
            min_size=rule.min_items or 0,
            max_size=min(rule.max_items, 5),
        )
        return st.none() | patterns.map(tuple)
    if rule.gt is not None:
        return st.floats(min_value=rule.gt, max_value=rule.le, exclude_min=True)
    return st.integers(min_value=rule.ge, max_value=rule.le)


#: Keyword arguments of any valid DownloadOptions (some options left at their default).
option_values = st.fixed_dictionaries(
    {},
    optional={
        field.name: _capped(field) for field in attrs.fields(attrs.resolve_types(DownloadOptions))
    },
)
options = option_values.map(lambda values: DownloadOptions(**values))

progress = st.builds(
    Progress,
    percentage=st.floats(min_value=0, max_value=100),
    downloaded_mb=seconds,
    total_mb=seconds,
    speed_mbps=seconds,
    eta_seconds=seconds,
    current_stage=stages,
    downloaded_bytes=sizes,
    total_bytes=sizes,
    bytes_from=st.sampled_from([None, "mirror", "origin"]),
)
file_records = st.builds(FileRecord, path=texts, size=sizes, sha256=hex_digests)
install_results = st.builds(
    InstallResult,
    model_name=names,
    version=versions,
    file_path=texts,
    size_bytes=sizes,
    download_duration_seconds=seconds,
    checksum_verified=st.booleans(),
    installed_at=moments,
    model_id=texts,
    ready_for_inference=st.booleans(),
    readiness=json_objects,
    reused=st.booleans(),
    source=texts,
    download_url=texts,
    directory=texts,
)
installed_models = st.builds(
    InstalledModel,
    name=names,
    version=versions,
    model_id=texts,
    source=texts,
    size_bytes=sizes,
    installed_at=moments,
    ready_for_inference=st.booleans(),
)
model_infos = st.builds(
    ModelInfo,
    name=names,
    version=versions,
    versions=st.lists(versions, max_size=3).map(tuple),
    model_id=texts,
    source=texts,
    download_url=texts,
    file_path=texts,
    files=st.lists(file_records, max_size=3).map(tuple),
    size_bytes=sizes,
    installed_at=moments,
    checksum_verified=st.booleans(),
    ready_for_inference=st.booleans(),
    readiness=json_objects,
    metadata=json_objects,
    directory=texts,
)
removal_results = st.builds(
    RemovalResult,
    model_name=names,
    version=st.one_of(st.just("all"), versions),
    removed_versions=st.lists(versions, max_size=3).map(tuple),
    removed_at=moments,
    freed_bytes=sizes,
    removed_files=st.lists(texts, max_size=3).map(tuple),
    remaining_versions=st.lists(versions, max_size=3).map(tuple),
)
cached_models = st.builds(
    CachedModel, model_name=names, version=versions, size_bytes=sizes, last_accessed=moments
)
cache_infos = st.builds(
    CacheInfo,
    cache_directory=texts,
    total_bytes=sizes,
    used_bytes=sizes,
    available_bytes=sizes,
    models=st.lists(cached_models, max_size=3).map(tuple),
    download_bytes=sizes,
    download_entries=counts,
    partial_downloads=counts,
    completed_downloads=counts,
    last_updated=moments,
)
verify_results = st.builds(
    VerifyResult,
    model_name=names,
    version=versions,
    checked_files=counts,
    missing=st.lists(texts, max_size=3).map(tuple),
    mismatched=st.lists(
        st.fixed_dictionaries(
            {"path": texts, "expected_sha256": hex_digests, "actual_sha256": hex_digests}
        ),
        max_size=2,
    ).map(tuple),
)
download_ids = st.text("0123456789abcdef", min_size=16, max_size=16).map("dwnld_".__add__)
job_started = st.builds(
    JobStarted,
    download_id=download_ids,
    model_name=names,
    version=versions,
    estimated_size_bytes=sizes,
    estimated_duration_seconds=seconds,
    download_url=texts,
    progress_endpoint=download_ids.map("/model-download/{}/progress".format),
)
job_progress = st.builds(
    JobProgress,
    download_id=download_ids,
    model_name=names,
    version=versions,
    progress=progress,
    queued=st.booleans(),
)
job_failures = st.builds(
    JobFailed,
    download_id=download_ids,
    model_name=names,
    version=versions,
    error=texts,
    cancelled=st.sampled_from([None, True]),
    status_code=st.sampled_from([None, 400, 404, 409, 413, 500]),
)
job_entries = st.builds(
    JobEntry,
    name=names,
    version=versions,
    status=st.sampled_from(["loading", "failed"]),
    download_id=download_ids,
    error=st.none() | texts,
)
model_listings = st.builds(
    ModelListing,
    models=st.lists(installed_models | job_entries, max_size=4).map(tuple),
)

#: A strategy for every wire body class, by class.
WIRE_VALUES: dict[type, st.SearchStrategy[Any]] = {
    DownloadOptions: options,
    Progress: progress,
    FileRecord: file_records,
    InstallResult: install_results,
    InstalledModel: installed_models,
    ModelInfo: model_infos,
    RemovalResult: removal_results,
    CachedModel: cached_models,
    CacheInfo: cache_infos,
    VerifyResult: verify_results,
    JobStarted: job_started,
    JobProgress: job_progress,
    JobFailed: job_failures,
    JobCancelled: st.builds(JobCancelled, download_id=download_ids),
    JobEntry: job_entries,
    ModelListing: model_listings,
    SourceListing: st.builds(
        SourceListing, sources=st.lists(texts, max_size=4).map(tuple), default=texts
    ),
    Health: st.builds(Health, version=texts),
    ErrorDetail: st.builds(ErrorDetail, detail=texts),
    PruneReport: st.builds(
        PruneReport,
        removed_partial_downloads=counts,
        freed_bytes=sizes,
        expired_leases=counts,
        orphaned_generations=counts,
        abandoned_uploads=counts,
    ),
}


def without_library_only(cls: type, body: dict[str, Any]) -> dict[str, Any]:
    """A body's JSON without the keys REST does not take (``allow_torchscript`` of the options)."""
    local = {field.name for field in attrs.fields(cls) if not wire_of(field).rest}
    return {key: value for key, value in body.items() if key not in local}
