"""The store's layout: every path of a valid name and version stays in its place under the root."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from model_fetch.storage._layout import (
    PENDING_GENERATION,
    RECORD_NAME,
    Layout,
    is_generation,
    lock_key,
    new_generation,
    partial_key,
)
from strategies import any_model_names, any_versions, relpaths

LOCAL = Layout(os.path.join(os.sep, "srv", "store"), local=True)
REMOTE = Layout("bucket/prefix", local=False)
layouts = st.sampled_from([LOCAL, REMOTE])


def _segments(layout: Layout, path: str) -> list[str]:
    """The path's segments below the root (and check it is below the root at all)."""
    sep = os.sep if layout.local else "/"
    assert path.startswith(layout.root + sep)
    return path[len(layout.root) + 1 :].split(sep)


@given(layout=layouts, name=any_model_names, version=any_versions)
def test_version_paths_stay_in_their_directory(layout: Layout, name: str, version: str) -> None:
    """A name or version with '/' or '..' in it never nests or escapes its directory."""
    version_dir = _segments(layout, layout.version_dir(name, version))
    assert len(version_dir) == 3
    assert version_dir[0] == "models"
    for segment in version_dir[1:]:
        assert segment not in {"", ".", ".."}
        assert not segment.startswith(".")  # never clashes with .refs, .retired, .leases
    assert _segments(layout, layout.record_path(name, version)) == [*version_dir, RECORD_NAME]
    generation = new_generation()
    assert _segments(layout, layout.generation_dir(name, version, generation)) == [
        *version_dir,
        generation,
    ]
    assert _segments(layout, layout.accessed_path(name, version)) == [*version_dir, "accessed"]


@given(layout=layouts, name=any_model_names, ref=any_versions)
def test_alias_paths_stay_in_the_models_refs(layout: Layout, name: str, ref: str) -> None:
    """A remembered ref is one file in its model's .refs directory, whatever the ref's text."""
    segments = _segments(layout, layout.alias_path(name, ref))
    assert segments[:3] == ["models", segments[1], ".refs"]
    assert len(segments) == 4
    assert segments[3].endswith(".json")
    assert not segments[3].startswith(".")
    assert _segments(layout, layout.refs_dir(name)) == segments[:3]


@given(
    layout=layouts,
    first=st.tuples(any_model_names, any_versions),
    second=st.tuples(any_model_names, any_versions),
)
@example(layout=REMOTE, first=("org/a", "v1"), second=("org", "a/v1"))
@example(layout=LOCAL, first=("a", "b%2Fc"), second=("a", "b/c"))
def test_layout_is_injective(
    layout: Layout, first: tuple[str, str], second: tuple[str, str]
) -> None:
    """Two different (name, version) pairs never share a directory (org/a v1 is not org v1/a)."""
    if first != second:
        assert layout.version_dir(*first) != layout.version_dir(*second)


@given(layout=layouts, name=any_model_names, version=any_versions, rel=relpaths)
def test_installed_files_stay_in_their_generation(
    layout: Layout, name: str, version: str, rel: str
) -> None:
    """A validated file path lands inside the generation directory, one level per segment."""
    base = layout.generation_dir(name, version, new_generation())
    path = layout.join_rel(base, rel)
    sep = os.sep if layout.local else "/"
    assert path.startswith(base + sep)
    assert path[len(base) + 1 :].split(sep) == rel.split("/")


def test_documented_layout() -> None:
    """The paths are the ones docs/store.md shows (names escaped into one segment)."""
    assert REMOTE.record_path("org/bert", "refs/pr/1") == (
        "bucket/prefix/models/org%2Fbert/refs%2Fpr%2F1/install.json"
    )
    assert REMOTE.lease_path("k.json") == "bucket/prefix/.leases/k.json"
    assert REMOTE.models_dir == "bucket/prefix/models"
    assert REMOTE.name_dir(".hidden") == "bucket/prefix/models/%2Ehidden"
    assert LOCAL.version_dir("m", "v1") == os.path.join(LOCAL.root, "models", "m", "v1")


def test_generation_names() -> None:
    """Only committed generation names count as generations; a pending record's does not."""
    fresh = new_generation()
    assert is_generation(fresh)
    assert fresh != new_generation()
    assert not is_generation(PENDING_GENERATION)
    assert not is_generation("g-" + "A" * 16)
    assert not is_generation("g-0123")
    assert not is_generation(".refs")


@given(name=any_model_names, version=any_versions)
def test_lock_key_names_one_version(name: str, version: str) -> None:
    """Two processes locking the same version compute the same key; other versions differ."""
    assert lock_key(name, version) == lock_key(name, version)
    assert lock_key(name, version) != lock_key(name, version + "x")
    assert len(lock_key(name, version)) == 32


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://h/m.bin?X-Amz-Signature=1", "https://h/m.bin?X-Amz-Signature=2", True),
        ("https://h/m.bin", "https://h/other.bin", False),
    ],
)
def test_partial_key_ignores_the_query(first: str, second: str, same: bool) -> None:
    """A re-signed URL resumes the same partial download; another file does not."""
    assert (partial_key("m", "v1", "m.bin", first) == partial_key("m", "v1", "m.bin", second)) is (
        same
    )
