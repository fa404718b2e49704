"""Hypothesis strategies shared across tests: names, versions, records, options, requests."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from model_fetch import DownloadOptions, DownloadRequest
from model_fetch._models import FileRecord
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
    )


# -- jobs: requests and options for the dedupe key --------------------------------------------
# Short, readable names and versions (the key tests need speed, not the whole alphabet).
_SEGMENT = r"[a-z][a-z0-9_-]{0,11}"

#: Valid model names: ``name`` or ``org/name``.
model_names = st.from_regex(rf"{_SEGMENT}(/{_SEGMENT})?", fullmatch=True)
#: Valid versions, ``latest`` included, with an occasional ``/`` (``refs/pr/1``).
versions = st.one_of(
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
    "chunk_size": st.integers(1, 1 << 26),
    "timeout": st.floats(min_value=1e-3, max_value=86_400, allow_nan=False),
    "retry_count": st.integers(0, 100),
    "verify_ssl": st.booleans(),
    "extract_after_download": st.booleans(),
    "cleanup_temp_files": st.booleans(),
    "allow_patterns": _globs,
    "ignore_patterns": _globs,
    "connections": st.integers(1, 16),
    "parallel_min_size": st.integers(1 << 20, 1 << 40),
    "allow_torchscript": st.booleans(),
}

options = st.fixed_dictionaries(OPTION_FIELDS).map(lambda fields: DownloadOptions(**fields))

# -- requests ---------------------------------------------------------------------------------
_metadata = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=3
)

#: A strategy for every field of DownloadRequest except ``options`` (see OPTION_FIELDS).
REQUEST_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model_name": model_names,
    "version": versions,
    "download_url": download_urls,
    "source": st.sampled_from(["default", "huggingface", "local", "url", "plugin"]),
    "checksum": checksums,
    "force_download": st.booleans(),
    "if_exists": st.sampled_from(["reuse", "error"]),
    "metadata": _metadata,
}

requests = st.fixed_dictionaries({**REQUEST_FIELDS, "options": options}).map(
    lambda fields: DownloadRequest(**fields)
)
