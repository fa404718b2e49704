"""The store: list, info, remove, cache-info, quotas, ENOSPC, and stores on other filesystems."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import fsspec
import pytest

from model_fetch import (
    Downloader,
    DownloadInProgress,
    InsufficientStorage,
    InvalidRequest,
    ModelNotFound,
    Progress,
)
from support.helpers import installed_files, payload, sha256, stray_files

if TYPE_CHECKING:
    from collections.abc import Iterator

    from support.server import FileServer

DATA = payload(200_000)


@pytest.fixture
def urls(server: FileServer) -> dict[str, str]:
    server.add_file("/a.bin", DATA)
    server.add_file("/b.bin", DATA[:100_000])
    return {"a": server.url("/a.bin"), "b": server.url("/b.bin")}


def test_list_info_remove_cache_info(downloader: Downloader, urls: dict[str, str]) -> None:
    """The inspection calls agree with what was installed and removed, in the contract's shapes."""
    downloader.download("org/bert", "v1", download_url=urls["a"], checksum=sha256(DATA))
    downloader.download("org/bert", "v2", download_url=urls["b"])
    downloader.download("resnet", "refs/pr/1", download_url=urls["b"])

    listed = [m.to_dict() for m in downloader.list_models()]
    assert [(m["name"], m["version"]) for m in listed] == [
        ("org/bert", "v1"),
        ("org/bert", "v2"),
        ("resnet", "refs/pr/1"),
    ]
    assert listed[0]["status"] == "available"
    assert listed[0]["model_id"] == "org--bert_v1"
    assert set(listed[0]) == {
        "name",
        "version",
        "status",
        "model_id",
        "source",
        "size_mb",
        "installed_at",
        "ready_for_inference",
    }

    info = downloader.info("org/bert").to_dict()
    assert info["version"] == "v2", "the newest install by default"
    assert info["versions"] == ["v1", "v2"]
    assert info["files"] == [{"path": "b.bin", "size": 100_000, "sha256": sha256(DATA[:100_000])}]
    assert Path(info["file_path"]).read_bytes() == DATA[:100_000]

    cache = downloader.cache_info().to_dict()
    assert cache["model_cache"]["entry_count"] == 3
    assert cache["cache_info"]["cache_directory"] == str(downloader.store.url)
    assert cache["download_cache"]["partial_downloads"] == 0
    assert cache["cache_info"]["available_cache_size_mb"] > 0

    removed = downloader.remove("org/bert", "v1").to_dict()
    assert removed["status"] == "version_removed"
    assert removed["remaining_versions"] == ["v2"]
    assert removed["removal_details"]["files_deleted"] is True
    assert not Path(removed["removal_details"]["removed_files"][0]).exists()

    last = downloader.remove("org/bert", "latest").to_dict()
    assert last["status"] == "removed"
    assert last["version"] == "v2"

    everything = downloader.remove("resnet").to_dict()
    assert everything["status"] == "completely_removed"
    assert downloader.list_models() == []
    with pytest.raises(ModelNotFound):
        downloader.remove("resnet")
    with pytest.raises(ModelNotFound):
        downloader.info("resnet")


def test_info_of_missing_version(downloader: Downloader, urls: dict[str, str]) -> None:
    """info() of a version that is not installed raises ModelNotFound (404)."""
    downloader.download("m", "v1", download_url=urls["a"])
    with pytest.raises(ModelNotFound) as caught:
        downloader.info("m", "v9")
    assert caught.value.status_code == 404


def test_remove_refuses_while_downloading(downloader: Downloader, urls: dict[str, str]) -> None:
    """Removing a version whose download holds the lock is a 409, and removes nothing."""
    downloader.download("m", "v1", download_url=urls["a"])
    lock = downloader.store.lock("m", "v1")
    with lock:
        with pytest.raises(DownloadInProgress) as caught:
            downloader.remove("m", "v1")
        assert caught.value.status_code == 409
    assert [m.version for m in downloader.list_models()] == ["v1"]


def test_quota_refuses_before_transfer(
    store: Path, server: FileServer, urls: dict[str, str]
) -> None:
    """A model larger than the quota fails with 413 naming the MB required and available."""
    with Downloader(store=store, max_store_bytes=150_000) as downloader:
        with pytest.raises(InsufficientStorage) as caught:
            downloader.download("m", "v1", download_url=urls["a"])
        assert caught.value.status_code == 413
        assert "Required: 0.2MB" in str(caught.value)
        assert "Available: 0.1MB" in str(caught.value)
        assert caught.value.required_bytes == len(DATA)
        downloader.download("small", "v1", download_url=urls["b"])
        with pytest.raises(InsufficientStorage):
            downloader.download("small", "v2", download_url=urls["b"])
    assert [p.name for p in installed_files(store)] == ["b.bin", "install.json"]
    assert stray_files(store) == []


def test_quota_from_environment(
    store: Path, urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODEL_FETCH_MAX_STORE_SIZE sets the quota, with units."""
    monkeypatch.setenv("MODEL_FETCH_MAX_STORE_SIZE", "100KiB")
    with Downloader(store=store) as downloader, pytest.raises(InsufficientStorage):
        downloader.download("m", "v1", download_url=urls["a"])


def test_quota_with_unknown_size(store: Path, server: FileServer) -> None:
    """With no Content-Length, the quota is enforced as bytes arrive."""
    server.add_file("/chunked.bin", DATA, content_length=False, accept_ranges=False)
    with Downloader(store=store, max_store_bytes=50_000) as downloader:
        with pytest.raises(InsufficientStorage):
            downloader.download("m", "v1", download_url=server.url("/chunked.bin"))
        assert downloader.list_models() == []
    assert stray_files(store) == []


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, so the disk really fills up (needs root, as in CI)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_enospc_during_transfer(tiny_tmpfs: Path, server: FileServer) -> None:
    """A disk that fills up mid-download raises InsufficientStorage and installs nothing."""
    big = payload(1_500_000)
    server.add_file("/big.bin", big, content_length=False, accept_ranges=False)
    store = tiny_tmpfs / "store"
    filler = tiny_tmpfs / "filler"

    def fill_disk(_: Progress) -> None:
        # Another program takes the rest of the disk once the download is under way.
        if not filler.exists():
            with filler.open("wb") as handle, contextlib.suppress(OSError):
                handle.write(b"\0" * 2_000_000)

    with Downloader(store=store) as downloader:
        with pytest.raises(InsufficientStorage) as caught:
            downloader.download(
                "big",
                "v1",
                download_url=server.url("/big.bin"),
                options={"chunk_size": 1024, "retry_count": 0},
                progress=fill_disk,
            )
        assert isinstance(caught.value.__cause__, OSError)
        assert caught.value.__cause__.errno == errno.ENOSPC
        assert downloader.list_models() == []
    assert installed_files(store) == []
    assert stray_files(store) == []


def test_memory_filesystem_store(server: FileServer, urls: dict[str, str]) -> None:
    """Any fsspec filesystem works as a store: install, reuse, list, info and remove."""
    url = "memory://mf-test-store"
    with Downloader(store=url) as downloader:
        result = downloader.download("m", "v1", download_url=urls["a"], checksum=sha256(DATA))
        assert result.file_path.startswith("memory://")
        fs = fsspec.filesystem("memory")
        assert fs.cat_file(result.file_path) == DATA
        server.reset_requests()
        assert downloader.download("m", "v1", download_url=urls["a"]).reused
        assert server.requests == []
        assert [m.name for m in downloader.list_models()] == ["m"]
        record = json.loads(fs.cat_file(f"{url}/models/m/v1/install.json"))
        assert record["files"][0]["sha256"] == sha256(DATA)
        downloader.remove("m")
        assert downloader.list_models() == []
        assert not fs.exists(result.file_path)


def test_store_from_environment(
    tmp_path: Path, urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODEL_FETCH_HOME picks the store root when no store is passed."""
    monkeypatch.setenv("MODEL_FETCH_HOME", str(tmp_path / "env-store"))
    with Downloader() as downloader:
        result = downloader.download("m", "v1", download_url=urls["a"])
    assert result.file_path.startswith(str(tmp_path / "env-store"))


def test_default_store_is_user_cache(tmp_path: Path) -> None:
    """With nothing configured, the store is the user cache directory (platformdirs)."""
    with Downloader() as downloader:
        assert downloader.store.url == str(tmp_path / "xdg-cache" / "model_fetch")


def test_unreadable_record_is_not_listed(downloader: Downloader, urls: dict[str, str]) -> None:
    """A corrupt install record means not installed: it is neither listed nor reused."""
    result = downloader.download("m", "v1", download_url=urls["a"])
    record = Path(result.file_path).parent.parent / "install.json"
    record.write_text("{not json")
    assert downloader.list_models() == []
    again = downloader.download("m", "v1", download_url=urls["a"])
    assert not again.reused


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b/c", "a\\b", "nul\x00", ".", ""])
def test_remove_and_info_validate_names(downloader: Downloader, name: str) -> None:
    """Inspection calls refuse names that could escape the store."""
    with pytest.raises(InvalidRequest):
        downloader.remove(name)
    with pytest.raises(InvalidRequest):
        downloader.info(name)


def test_layout_is_one_directory_per_version(downloader: Downloader, urls: dict[str, str]) -> None:
    """Names and versions with '/' map to single, distinct directories."""
    pairs = [("a/b", "c"), ("a", "b/c"), ("a", "b"), ("a.b", "c"), ("a", "b.c"), (".a", "b")]
    dirs = set()
    for name, version in pairs:
        result = downloader.download(name, version, download_url=urls["b"])
        dirs.add(Path(result.directory).parent)
        assert Path(result.directory).parent.parent.parent == downloader.store.root / Path("models")
    assert len(dirs) == len(pairs)
    assert os.path.isdir(downloader.store.root)


def test_verify_detects_changed_and_missing_files(
    downloader: Downloader, urls: dict[str, str]
) -> None:
    """verify() re-hashes installed files against the install record."""
    result = downloader.download("m", "v1", download_url=urls["a"])
    assert downloader.verify("m").ok
    path = Path(result.file_path)
    with path.open("r+b") as handle:
        handle.write(b"X")
    changed = downloader.verify("m", "v1")
    assert not changed.ok
    assert changed.mismatched[0]["path"] == "a.bin"
    assert changed.to_dict()["status"] == "corrupted"
    path.unlink()
    assert downloader.verify("m").missing == ("a.bin",)


def test_cache_info_capacity_adds_up(downloader: Downloader) -> None:
    """Used + available == total, so cache_usage_percentage means what df's Use% means."""
    info = downloader.cache_info()
    assert info.used_bytes + info.available_bytes == info.total_bytes
