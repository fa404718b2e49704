"""Identical files stored once: a file another installed version holds is linked, not fetched."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_fetch import Downloader
from support.hfhub import TestHub
from support.shared import NEW, REPO, SHARED, V1, V2, fetched


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHub]:
    with TestHub().start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


def disk_bytes(root: Path) -> int:
    """Bytes of disk blocks the installed files take, each inode counted once."""
    seen: dict[tuple[int, int], int] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            info = os.stat(os.path.join(dirpath, name))
            seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512
    return sum(seen.values())


@pytest.mark.parametrize("layout", ["model_fetch", "hf-cache"])
def test_v2_sharing_nine_of_ten_files_fetches_and_stores_one(
    hub: TestHub, tmp_path: Path, layout: str
) -> None:
    """Installing v2 downloads and stores only the file v1 does not hold; remove frees it last."""
    root = tmp_path / "store"
    store = str(root) if layout == "model_fetch" else f"hf-cache:{root}"
    first = hub.add_repo(REPO, V1)
    with Downloader(store=store) as downloader:
        downloader.download(REPO, first, source="huggingface")
        after_v1 = disk_bytes(root)
        second = hub.add_commit(REPO, V2, ref="main")
        before = len(hub.requests)
        result = downloader.download(REPO, second, source="huggingface")
        assert result.checksum_verified
        assert fetched(hub, before) == ["shard-4.safetensors"]
        grown = disk_bytes(root) - after_v1
        # One new file's blocks, plus at most a few blocks of records and links.
        assert NEW.size <= grown < NEW.size + 64 * 1024
        for file in V2:
            assert (Path(result.directory) / file.path).read_bytes() == file.data
        downloader.remove(REPO, first)
        assert downloader.verify(REPO, second).ok
        assert disk_bytes(root) < after_v1 + grown - V1[4].size + 64 * 1024
        downloader.remove(REPO, second)
    assert disk_bytes(root) < 64 * 1024


def test_a_damaged_copy_is_downloaded_again(hub: TestHub, tmp_path: Path) -> None:
    """A blob whose bytes no longer match its digest is never reused: the origin serves the file."""
    root = tmp_path / "store"
    first = hub.add_repo(REPO, V1)
    with Downloader(store=str(root)) as downloader:
        v1 = downloader.download(REPO, first, source="huggingface")
        shared = Path(v1.directory) / "shard-0.safetensors"
        data = bytearray(shared.read_bytes())
        data[5] ^= 0xFF
        shared.write_bytes(bytes(data))  # the blob is the same inode: it is damaged too
        second = hub.add_commit(REPO, V2, ref="main")
        before = len(hub.requests)
        result = downloader.download(REPO, second, source="huggingface")
        assert fetched(hub, before) == ["shard-0.safetensors", "shard-4.safetensors"]
        assert (Path(result.directory) / "shard-0.safetensors").read_bytes() == V1[0].data


@pytest.mark.parametrize("layout", ["model_fetch", "hf-cache"])
def test_cache_info_reports_the_bytes_sharing_saves(
    hub: TestHub,
    tmp_path: Path,
    layout: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cache-info (API, REST, CLI) counts the nine shared files once saved; after v1 goes, 0."""
    from fastapi.testclient import TestClient  # noqa: PLC0415 - the REST extra

    from model_fetch.cli import main  # noqa: PLC0415
    from model_fetch.http import ServerSettings, create_app  # noqa: PLC0415

    root = tmp_path / "store"
    store = str(root) if layout == "model_fetch" else f"hf-cache:{root}"
    saved = sum(file.size for file in SHARED)
    first = hub.add_repo(REPO, V1)
    with Downloader(store=store) as downloader:
        downloader.download(REPO, first, source="huggingface")
        assert downloader.cache_info().deduplicated_bytes == 0, "one version shares nothing"
        second = hub.add_commit(REPO, V2, ref="main")
        downloader.download(REPO, second, source="huggingface")
        info = downloader.cache_info()
        assert info.deduplicated_bytes == saved
        assert info.models_bytes == sum(f.size for f in V1) + sum(f.size for f in V2)
        app = create_app(downloader, ServerSettings(allowed_hosts=("testserver",)))
        body = TestClient(app).get("/cache-info").json()
        assert body["model_cache"]["deduplicated_size_mb"] == round(saved / 2**20, 1)
        assert body["model_cache"]["entry_count"] == 2, "the contract's fields stay"

        assert main(["--store", store, "cache-info", "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["model_cache"]["deduplicated_size_mb"] == round(saved / 2**20, 1)

        downloader.remove(REPO, first)
        assert downloader.cache_info().deduplicated_bytes == 0
