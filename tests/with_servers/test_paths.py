"""Names, versions and file paths can never escape the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_fetch import Downloader, InvalidRequest
from model_fetch._paths import (
    MAX_ESCAPED,
    MAX_VERSION,
    VERSION_PATTERN,
    escape_segment,
    validate_name,
    validate_relpath,
    validate_version,
)
from support.server import FileServer

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


#: Valid versions as the REST schema publishes them, up to the longest, with the characters
#: that escape to three (so their escaped form runs past a file name's 255 bytes).
long_versions = st.from_regex(VERSION_PATTERN, fullmatch=True).filter(
    lambda v: len(v) <= MAX_VERSION
) | st.text(alphabet="@+,=~", min_size=1, max_size=MAX_VERSION)


@given(long_versions, long_versions)
def test_every_valid_value_escapes_to_a_legal_file_name(a: str, b: str) -> None:
    """Any valid version, however long, escapes to one short segment, and still injectively."""
    for value in (a, b):
        segment = escape_segment(validate_version(value))
        assert len(segment.encode()) <= MAX_ESCAPED
        assert "/" not in segment
        assert not segment.startswith(".")
    if a != b:
        assert escape_segment(a) != escape_segment(b)


def test_long_escaped_forms_never_meet_short_ones() -> None:
    """A value whose escaped form is cut never shares a directory with one that is not."""
    long_value = "@" * 100
    short = escape_segment("@" * 60)
    cut = escape_segment(long_value)
    assert "~" in cut
    assert "~" not in short
    assert cut != escape_segment("@" * 99)


def test_names_that_escape_long_install(tmp_path: Path, server: FileServer) -> None:
    """A valid name and version that triple in length when escaped install and read back."""
    name, version = "@" * 100, "/".join([".a" + "+" * 18] * 9)
    server.add_file("/m.bin", b"weights")
    with Downloader(store=tmp_path / "store") as downloader:
        result = downloader.download(name, version, download_url=server.url("/m.bin"))
        assert Path(result.file_path).read_bytes() == b"weights"
        assert [m.name for m in downloader.list_models()] == [name]
        assert downloader.info(name, version).version == version


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
