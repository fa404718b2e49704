"""Hypothesis strategies shared across tests: names, versions, checksums, options, requests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from model_fetch import DownloadOptions, DownloadRequest

# -- names, versions, checksums ---------------------------------------------------------------
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
