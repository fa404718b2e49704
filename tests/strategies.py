"""Hypothesis strategies shared across tests: names, versions, ranges, records, wire values."""

from __future__ import annotations

import datetime as dt
import email.utils
import string
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

import attrs
from hypothesis import strategies as st

from model_fetch import DownloadRequest
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
    SignatureCheck,
    SourceListing,
    VerifyResult,
)
from model_fetch._paths import (
    NAME_PATTERN,
    SEGMENT_CHARS,
    VERSION_PATTERN,
    validate_name,
    validate_relpath,
    validate_version,
)
from model_fetch.exceptions import InvalidRequest
from model_fetch.storage import InstallRecord
from model_fetch.transfer._resume import Answer, Ask, ResumeState

if TYPE_CHECKING:
    from collections.abc import Callable


# -- storage: every valid name, version and file path, install records ------------------------
def _passes(check: Callable[[str], object]) -> Callable[[str], bool]:
    """A filter keeping the values ``check`` accepts."""

    def accepted(value: str) -> bool:
        try:
            check(value)
        except InvalidRequest:
            return False
        return True

    return accepted


#: Every model name the validator accepts (the whole alphabet, ``org/name`` included).
any_model_names = st.from_regex(NAME_PATTERN, fullmatch=True).filter(_passes(validate_name))
#: Every version the validator accepts (``refs/pr/1`` included).
any_versions = st.from_regex(VERSION_PATTERN, fullmatch=True).filter(_passes(validate_version))
_relpath_segment = st.from_regex(rf"[{SEGMENT_CHARS}]{{1,16}}", fullmatch=True).filter(
    lambda segment: segment not in {".", ".."}
)
#: Relative file paths inside a model, as a source lists them (1 to 4 segments).
relpaths = (
    st.lists(_relpath_segment, min_size=1, max_size=4)
    .map("/".join)
    .filter(_passes(validate_relpath))
)
sha256_hex = st.binary(min_size=32, max_size=32).map(bytes.hex)
file_records = st.builds(FileRecord, path=relpaths, size=st.integers(0, 1 << 40), sha256=sha256_hex)
#: Committed generation directory names (``g-`` and 16 hex digits).
generations = st.binary(min_size=8, max_size=8).map(lambda raw: "g-" + raw.hex())
#: Moments as the record stores them: UTC, whole milliseconds.
record_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
_json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)
)


#: What a signature check may record: a verified signer, or a checked absence.
signature_checks = st.one_of(
    st.builds(
        SignatureCheck,
        method=st.sampled_from(["key", "certificate", "sigstore"]),
        identity=st.text(min_size=1, max_size=24),
        verified=st.just(True),  # noqa: FBT003 - a strategy's value
    ),
    st.just(SignatureCheck(method=None, identity=None, verified=False)),
)


@st.composite
def install_records(draw: st.DrawFn) -> InstallRecord:
    """Committed install records whose JSON documents round-trip."""
    files = draw(st.lists(file_records, min_size=1, max_size=4))
    paths = [file.path for file in files]
    name = draw(any_model_names)
    version = draw(any_versions)
    return InstallRecord(
        name=name,
        version=version,
        source=draw(st.sampled_from(["default", "huggingface", "local", "url"])),
        download_url=draw(st.sampled_from(["https://example.com/m.bin", "s3://bucket/key"])),
        files=tuple(files),
        installed_at=draw(record_times),
        metadata=draw(st.dictionaries(st.text(max_size=8), _json_values, max_size=3)),
        model_id=f"{name}_{version}".replace("/", "--"),
        readiness=draw(
            st.sampled_from(
                [{"checked": None, "reason": "not checked"}, {"checked": "onnx", "reason": None}]
            )
        ),
        ready_for_inference=draw(st.booleans()),
        checksum_verified=draw(st.booleans()),
        generation=draw(generations),
        primary=draw(st.none() | st.sampled_from(paths)),
        # An empty listing is written as [] and read back as None ("predates listings").
        listing=draw(st.none() | st.lists(relpaths, min_size=1, max_size=4).map(tuple)),
        archives=draw(st.lists(relpaths, max_size=2).map(tuple)),
        signature=draw(st.none() | signature_checks),
    )


# -- transfer: byte ranges, validators, Content-Range headers, resume states ------------------
#: File sizes, from empty to past 4 GiB (offsets that need more than 32 bits).
file_sizes = st.integers(min_value=0, max_value=1 << 40)
#: Strong ETags: the only ETags If-Range may carry.
strong_etags = st.binary(min_size=1, max_size=8).map(lambda tag: f'"{tag.hex()}"')
#: Weak ETags, which must never be sent as a validator.
weak_etags = strong_etags.map(lambda tag: f"W/{tag}")
#: Last-Modified values (an HTTP date).
last_modified = st.integers(0, 4_000_000_000).map(
    lambda seconds: email.utils.formatdate(seconds, usegmt=True)
)
#: What a server may send as a validator, or nothing.
validators = st.one_of(st.none(), strong_etags, last_modified)


@st.composite
def byte_ranges(draw: st.DrawFn, size: int | None = None) -> tuple[int, int, int]:
    """``(start, end, size)``: a non-empty range ``[start, end)`` of a file of ``size`` bytes."""
    total = size if size is not None else draw(st.integers(1, 1 << 40))
    start = draw(st.integers(0, total - 1))
    end = draw(st.integers(start + 1, total))
    return start, end, total


@st.composite
def spans(draw: st.DrawFn, size: int) -> tuple[tuple[int, int], ...]:
    """Sorted, disjoint, non-touching, non-empty ranges within ``[0, size)``."""
    cuts = sorted(draw(st.sets(st.integers(0, size), max_size=8)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return tuple((start, end) for start, end in pairs if end > start)


def content_range(start: int, end: int, total: int | None) -> str:
    """A well-formed ``Content-Range`` for ``[start, end)`` (``*`` when the total is None)."""
    return f"bytes {start}-{end - 1}/{'*' if total is None else total}"


#: Content-Range headers as servers send them, well-formed or not.
content_range_headers = st.one_of(
    st.none(),
    byte_ranges().map(lambda r: content_range(*r)),
    st.builds(content_range, st.integers(0, 1 << 20), st.integers(1, 1 << 20), st.none()),
    st.text(max_size=40),
    st.builds(
        "bytes {}-{}/{}".format,
        st.integers(0, 999),
        st.integers(0, 999),
        st.one_of(st.integers(0, 999), st.just("*")),
    ),
)

#: Sidecar states a resume may start from.
resume_states = st.builds(
    ResumeState,
    url=st.just("https://models.example/model.bin"),
    validator=validators,
    size=st.one_of(st.none(), st.integers(0, 1 << 40)),
    completed=st.integers(0, 1 << 40),
    ranges=st.one_of(st.just(()), spans(1 << 20)),
)
#: Resuming requests.
asks = st.builds(
    Ask, start=st.integers(1, 1 << 40), validator=st.one_of(strong_etags, last_modified)
)
#: Answers to a plain or resuming request.
answers = st.builds(
    Answer,
    status=st.sampled_from([200, 206, 416, 404, 500, 503, 304, 412]),
    content_range=content_range_headers,
    length=st.one_of(st.none(), st.integers(0, 1 << 40)),
    validator=validators,
)


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[Ask | None, Answer]:
    """A request (plain or resuming) and an answer whose range often lies near the asked byte."""
    ask = draw(st.one_of(st.none(), asks))
    answer = draw(answers)
    if ask is not None and draw(st.booleans()):
        start = ask.start + draw(st.integers(-1, 1))
        end = start + draw(st.integers(1, 1 << 20))
        total = draw(st.one_of(st.none(), st.integers(end, end + 2)))
        status = draw(st.sampled_from([206, 206, 200, 416]))
        answer = Answer(
            status=status,
            content_range=content_range(start, end, total),
            length=answer.length,
            validator=answer.validator,
        )
    return ask, answer


# -- wire values: every body the contract renders ----------------------------------------------
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
    if get_origin(field.type) is Literal:
        return st.sampled_from(get_args(field.type))
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
wire_file_records = st.builds(FileRecord, path=texts, size=sizes, sha256=hex_digests)
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
    signature=st.none() | signature_checks,
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
    files=st.lists(wire_file_records, max_size=3).map(tuple),
    size_bytes=sizes,
    installed_at=moments,
    checksum_verified=st.booleans(),
    ready_for_inference=st.booleans(),
    readiness=json_objects,
    metadata=json_objects,
    directory=texts,
    signature=st.none() | signature_checks,
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
    deduplicated_bytes=sizes,
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
    FileRecord: wire_file_records,
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
    SignatureCheck: signature_checks,
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


# -- jobs: requests and options for the dedupe key --------------------------------------------
# Short, readable names and versions (the key tests need speed, not the whole alphabet).
_SEGMENT = r"[a-z][a-z0-9_-]{0,11}"

#: Valid model names: ``name`` or ``org/name``.
key_model_names = st.from_regex(rf"{_SEGMENT}(/{_SEGMENT})?", fullmatch=True)
#: Valid versions, ``latest`` included, with an occasional ``/`` (``refs/pr/1``).
key_versions = st.one_of(
    st.just("latest"), st.from_regex(rf"v[0-9]{{1,3}}(/{_SEGMENT}){{0,2}}", fullmatch=True)
)
#: Checksums as a caller writes them (``algo:hex``), or none.
checksums = st.one_of(
    st.none(),
    st.binary(min_size=32, max_size=32).map(lambda digest: "sha256:" + digest.hex()),
    st.binary(min_size=16, max_size=16).map(lambda digest: "md5:" + digest.hex()),
)
download_urls = st.one_of(
    st.none(),
    st.from_regex(r"https://[a-z]{1,8}\.example/[a-z]{1,8}\.(bin|safetensors)", fullmatch=True),
)
_globs = st.one_of(
    st.none(),
    st.lists(st.sampled_from(["*.bin", "*.json", "config.*", "sub/*", "*"]), min_size=1).map(tuple),
)

# -- options ----------------------------------------------------------------------------------
#: A strategy for every field of DownloadOptions, within its validator's range.
OPTION_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "chunk_size": st.integers(1, 16 << 20),
    "timeout": st.floats(min_value=1e-3, max_value=3600, allow_nan=False),
    "retry_count": st.integers(0, 10),
    "verify_ssl": st.booleans(),
    "extract_after_download": st.booleans(),
    "cleanup_temp_files": st.booleans(),
    "allow_patterns": _globs,
    "ignore_patterns": _globs,
    "connections": st.integers(1, 16),
    "parallel_min_size": st.integers(1 << 20, 1 << 40),
    "deadline": st.floats(min_value=1e-3, max_value=86400, allow_nan=False),
    "min_rate": st.integers(1, 1 << 30),
    "allow_torchscript": st.booleans(),
    "accept_files": _globs,
    "signature": st.sampled_from(["required", "if-present", "off"]),
}

key_options = st.fixed_dictionaries(OPTION_FIELDS).map(lambda fields: DownloadOptions(**fields))

# -- requests ---------------------------------------------------------------------------------
_metadata = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=3
)

#: A strategy for every field of DownloadRequest except ``options`` (see OPTION_FIELDS).
REQUEST_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model_name": key_model_names,
    "version": key_versions,
    "download_url": download_urls,
    "source": st.sampled_from(["default", "huggingface", "local", "url", "plugin"]),
    "checksum": checksums,
    "force_download": st.booleans(),
    "if_exists": st.sampled_from(["reuse", "error"]),
    "metadata": _metadata,
}

requests = st.fixed_dictionaries({**REQUEST_FIELDS, "options": key_options}).map(
    lambda fields: DownloadRequest(**fields)
)

# -- corrupted model files (differential fuzzing of the readiness checks) ---------------------


@st.composite
def byte_mutations(draw: st.DrawFn, size: int) -> tuple[str, int, int]:
    """One corruption of a ``size``-byte file, applied with :func:`mutate`.

    ``("flip", offset, xor)``, ``("cut", length, 0)`` or ``("empty", 0, 0)``.
    """
    kind = draw(st.sampled_from(["flip", "flip", "flip", "cut", "empty"]))
    if kind == "flip":
        return kind, draw(st.integers(0, size - 1)), draw(st.integers(1, 255))
    if kind == "cut":
        return kind, draw(st.integers(1, size - 1)), 0
    return kind, 0, 0


def mutate(data: bytes, mutation: tuple[str, int, int]) -> bytes:
    """Apply a :func:`byte_mutations` corruption to ``data``."""
    kind, position, xor = mutation
    if kind == "flip":
        changed = bytearray(data)
        changed[position] ^= xor
        return bytes(changed)
    if kind == "cut":
        return data[:position]
    return b""
