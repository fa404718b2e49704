"""Names, versions and file paths can never escape the store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_fetch import Downloader, InvalidRequest
from model_fetch._paths import escape_segment, validate_name, validate_relpath, validate_version

BAD_NAMES = [
    "..",
    ".",
    "../x",
    "a/../b",
    "/abs",
    "a/b/c",
    "a\\b",
    "a\x00b",
    "a\nb",
    "",
    " a",
    "C:evil",
    "a//b",
    "a/",
    "x" * 201,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name: str) -> None:
    """Traversal, absolute paths, backslashes, NUL and control characters are refused."""
    with pytest.raises(InvalidRequest):
        validate_name(name)


@pytest.mark.parametrize("version", ["..", "../x", "/abs", "a\\b", "v\x001", "v\t1", "refs//x"])
def test_bad_versions_are_refused(version: str) -> None:
    """Versions are checked like names, except that several '/' are allowed."""
    with pytest.raises(InvalidRequest):
        validate_version(version)


def test_good_names_and_versions() -> None:
    """org/name ids and Hugging Face refs are accepted unchanged."""
    assert validate_name("org/bert-base.v2_x") == "org/bert-base.v2_x"
    assert validate_version("refs/pr/1") == "refs/pr/1"


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "C:/x", "a/../../b", "a\\b", "a/./b", ""])
def test_bad_relpaths(path: str) -> None:
    """File paths a source returns are checked before anything is written."""
    with pytest.raises(InvalidRequest):
        validate_relpath(path)


text = st.text(min_size=1, max_size=60)


@given(text)
def test_validated_names_stay_inside_one_segment(value: str) -> None:
    """Any name that validates escapes to one path segment with no separator or dot-name."""
    try:
        name = validate_name(value)
    except InvalidRequest:
        return
    segment = escape_segment(name)
    assert "/" not in segment
    assert "\\" not in segment
    assert segment not in {".", ".."}
    assert not segment.startswith(".")


@given(text, text)
def test_escaping_is_injective(a: str, b: str) -> None:
    """Two different names never share a directory."""
    if a != b:
        assert escape_segment(a) != escape_segment(b)


@given(text)
def test_downloader_refuses_before_io(value: str) -> None:
    """download() raises InvalidRequest for any invalid name, before touching the network."""
    try:
        validate_name(value)
    except InvalidRequest:
        with (
            Downloader(store="memory://never-written") as downloader,
            pytest.raises(InvalidRequest),
        ):
            downloader.download(value, "v1", download_url="http://127.0.0.1:9/never.bin")
