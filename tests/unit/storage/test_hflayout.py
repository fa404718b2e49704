"""Which directory a hf-cache store is, and the paths inside it (no I/O beyond tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_fetch import InvalidRequest
from model_fetch.storage._hflayout import HF_TAG, HfLayout, hf_cache_dir, hf_cache_root


def test_cache_dir_follows_huggingface_hub_precedence(tmp_path: Path) -> None:
    """HF_HUB_CACHE beats HUGGINGFACE_HUB_CACHE beats HF_HOME/hub beats XDG_CACHE_HOME."""
    assert hf_cache_dir({"XDG_CACHE_HOME": "/x"}) == "/x/huggingface/hub"
    assert hf_cache_dir({"XDG_CACHE_HOME": "/x", "HF_HOME": "/h"}) == "/h/hub"
    both = {"HF_HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/legacy"}
    assert hf_cache_dir(both) == "/legacy"
    assert hf_cache_dir({**both, "HF_HUB_CACHE": "/new"}) == "/new"
    assert hf_cache_dir({}) == os.path.expanduser("~/.cache/huggingface/hub")


def test_store_arguments_that_name_a_cache(tmp_path: Path) -> None:
    """hf-cache, hf-cache:<path> and an existing cache directory are hf-cache stores; others not."""
    assert hf_cache_root(f"hf-cache:{tmp_path}") == str(tmp_path)
    assert hf_cache_root(f"hf-cache:file://{tmp_path}") == str(tmp_path)
    assert hf_cache_root(str(tmp_path)) is None  # empty: model_fetch's own layout
    (tmp_path / "CACHEDIR.TAG").write_text(HF_TAG)
    assert hf_cache_root(str(tmp_path)) == str(tmp_path)
    other = tmp_path / "other"
    (other / "models--a--b").mkdir(parents=True)
    assert hf_cache_root(str(other)) == str(other)
    (other / "models").mkdir()
    assert hf_cache_root(str(other)) is None
    assert hf_cache_root("s3://bucket/models") is None
    with pytest.raises(InvalidRequest, match="not a local directory"):
        hf_cache_root("hf-cache:s3://bucket/hub")


def test_paths_are_huggingface_hubs() -> None:
    """Repo folder, snapshot, refs (latest is main) and the record beside the cache's folders."""
    layout = HfLayout("/c", local=True)
    commit = "a" * 40
    assert layout.generation_dir("org/m", commit, "g-0") == f"/c/models--org--m/snapshots/{commit}"
    assert layout.alias_path("org/m", "latest") == "/c/models--org--m/refs/main"
    assert layout.alias_path("org/m", "refs/pr/1") == "/c/models--org--m/refs/refs/pr/1"
    assert (
        layout.record_path("gpt2", commit) == f"/c/models--gpt2/.model_fetch/{commit}/install.json"
    )
    for bad in ("a--b/c", "a/b+c"):
        with pytest.raises(InvalidRequest, match="not a Hugging Face repo id"):
            layout.name_dir(bad)
