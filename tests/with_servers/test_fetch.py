"""``model_fetch.fetch``: one call, a local path that exists, against servers on 127.0.0.1."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from model_fetch import (
    ChecksumMismatch,
    Downloader,
    InvalidRequest,
    ModelNotFound,
    OfflineModeError,
    fetch,
)
from support.helpers import payload, sha256
from support.hfhub import HubFile, TestHub

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from model_fetch import Progress
    from support.s3 import MotoServer
    from support.server import FileServer

REPO = "acme/tiny-bert"
FILES = [
    HubFile(path="config.json", data=b'{"model_type": "bert"}'),
    HubFile(path="README.md", data=b"# tiny bert\n"),
    HubFile(path="tokenizer/vocab.txt", data=b"[PAD]\n[UNK]\nhello\n"),
    HubFile(path="tokenizer/config.json", data=b'{"lower": true}'),
    HubFile(path="model.safetensors", data=payload(300_000, seed=41), lfs=True),
    HubFile(path="onnx/model.onnx", data=payload(200_000, seed=42), lfs=True),
]
DATA = {file.path: file.data for file in FILES}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHub]:
    with TestHub().start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        running.add_repo(REPO, FILES)
        yield running


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (symlinks followed) with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def downloads(hub: TestHub) -> list[str]:
    """The files the hub and its CDN sent (``resolve`` and CDN GETs), not metadata calls."""
    return [
        r.path
        for r in hub.requests
        if r.method == "GET" and (r.origin == "cdn" or "/resolve/" in r.path)
    ]


def test_patterns_return_a_directory_holding_exactly_the_selection(
    hub: TestHub, store: Path
) -> None:
    """allow_patterns/ignore_patterns pick the files; the directory returned holds just those."""
    path = fetch(
        REPO,
        source="huggingface",
        store=store,
        allow_patterns=["*.json", "*.safetensors"],
        ignore_patterns="tokenizer/*",
    )
    assert path.is_dir()
    assert tree(path) == {p: DATA[p] for p in ("config.json", "model.safetensors")}
    assert path.parent.name == hub.commit_sha(REPO, "main"), "./<commit>/g-<generation>"
    assert len([r for r in hub.requests if r.origin == "cdn"]) == 1, "onnx/ was not fetched"


def test_filename_fetches_only_that_file_and_returns_its_path(hub: TestHub, store: Path) -> None:
    """filename= (hf_hub_download) returns the existing file, and nothing else is downloaded."""
    path = fetch(REPO, source="huggingface", store=store, filename="tokenizer/vocab.txt")
    assert path.is_file()
    assert path.read_bytes() == DATA["tokenizer/vocab.txt"]
    assert tree(path.parent.parent) == {"tokenizer/vocab.txt": DATA["tokenizer/vocab.txt"]}
    assert [p.rsplit("/resolve/", 1)[1] for p in downloads(hub)] == [
        f"{hub.commit_sha(REPO, 'main')}/tokenizer/vocab.txt"
    ]


def test_a_filename_is_matched_literally(hub: TestHub, store: Path) -> None:
    """A file name holding glob characters ("[1]") selects that file, not the names it matches."""
    files = [HubFile(path="shard[1].bin", data=b"bracketed"), HubFile(path="shard1.bin", data=b"1")]
    hub.add_repo("acme/shards", files)
    path = fetch("acme/shards", source="huggingface", store=store, filename="shard[1].bin")
    assert path.read_bytes() == b"bracketed"
    assert tree(path.parent) == {"shard[1].bin": b"bracketed"}


def test_a_filename_is_installed_as_published(hub: TestHub, store: Path) -> None:
    """An archive named by filename= comes back as the archive (hf_hub_download never unpacks)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        member = tarfile.TarInfo("inner.txt")
        member.size = 5
        archive.addfile(member, io.BytesIO(b"inner"))
    hub.add_repo("acme/bundle", [HubFile(path="bundle.tar", data=buffer.getvalue())])
    path = fetch("acme/bundle", source="huggingface", store=store, filename="bundle.tar")
    assert path.read_bytes() == buffer.getvalue()
    assert tree(path.parent) == {"bundle.tar": buffer.getvalue()}


def test_a_second_call_is_served_from_the_store(hub: TestHub, store: Path) -> None:
    """Again by commit, or offline: no request at all; again by branch: metadata, no file."""
    weights = {"source": "huggingface", "store": store, "filename": "model.safetensors"}
    first = fetch(REPO, **weights)
    commit = hub.commit_sha(REPO, "main")
    hub.reset_requests()
    assert fetch(REPO, version=commit, **weights) == first
    assert fetch(REPO, offline=True, **weights) == first
    assert hub.requests == []
    assert fetch(REPO, **weights) == first
    assert hub.requests, "a branch is resolved online, as huggingface_hub does"
    assert downloads(hub) == []


def test_offline_refuses_what_the_store_does_not_hold(hub: TestHub, store: Path) -> None:
    """Offline, a file or a selection the install lacks is OfflineModeError, never a bare path."""
    fetch(REPO, source="huggingface", store=store, filename="config.json")
    hub.reset_requests()
    with pytest.raises(OfflineModeError, match="offline=True"):
        fetch(REPO, source="huggingface", store=store, filename="README.md", offline=True)
    with Downloader(store, offline=True) as downloader, pytest.raises(OfflineModeError):
        downloader.download(REPO, source="huggingface", options={"allow_patterns": ["*.onnx"]})
    assert hub.requests == []


def test_offline_from_the_mirror_keeps_what_the_store_holds(
    hub: TestHub, s3: MotoServer, tmp_path: Path
) -> None:
    """Offline, a file the store lacks comes from the mirror and joins the files installed."""
    mirror = f"s3://{s3.new_bucket()}/mirror"
    with Downloader(tmp_path / "a", mirror=mirror) as node_a:
        fetch(REPO, source="huggingface", downloader=node_a)  # publishes the whole repository
    with Downloader(tmp_path / "b", mirror=mirror) as node_b:
        fetch(REPO, source="huggingface", filename="config.json", downloader=node_b)
    hub.reset_requests()
    with Downloader(tmp_path / "b", mirror=mirror, offline=True) as node_b:
        weights = fetch(REPO, source="huggingface", filename="model.safetensors", downloader=node_b)
    assert weights.read_bytes() == DATA["model.safetensors"]
    assert tree(weights.parent) == {p: DATA[p] for p in ("config.json", "model.safetensors")}
    assert hub.requests == []


def test_hf_cache_paths_are_the_ones_huggingface_hub_returns(
    hub: TestHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With store="hf-cache", fetch returns hf_hub_download's and snapshot_download's paths."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    config = fetch(REPO, source="huggingface", store="hf-cache", filename="config.json")
    folder = fetch(REPO, source="huggingface", store="hf-cache", allow_patterns="*.json")
    commit = hub.commit_sha(REPO, "main")
    assert config == cache / "models--acme--tiny-bert" / "snapshots" / commit / "config.json"
    assert config.read_bytes() == DATA["config.json"], "a wider selection left the path in place"
    offline = {"cache_dir": str(cache), "local_files_only": True}
    assert str(config) == huggingface_hub.hf_hub_download(REPO, "config.json", **offline)
    assert str(folder) == huggingface_hub.snapshot_download(REPO, **offline)
    assert tree(folder) == {p: DATA[p] for p in ("config.json", "tokenizer/config.json")}


def test_a_file_the_repository_lacks_is_model_not_found(hub: TestHub, store: Path) -> None:
    """filename= naming no file of the repository is a 404 naming it; nothing is installed."""
    with pytest.raises(ModelNotFound, match=r"has no file 'weights\.gguf'") as caught:
        fetch(REPO, source="huggingface", store=store, filename="weights.gguf")
    assert caught.value.status_code == 404
    assert "tokenizer/vocab.txt" in str(caught.value), "the message lists what the repo has"
    assert downloads(hub) == []
    with Downloader(store) as downloader:
        assert downloader.list_models() == []
    with pytest.raises(ModelNotFound, match="not found"):
        fetch("acme/missing", source="huggingface", store=store)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"filename": "config.json", "allow_patterns": "*.json"}, "one or the other"),
        ({"filename": "config.json", "options": {"ignore_patterns": ["*.md"]}}, "one or the other"),
        ({"filename": "../secrets.txt"}, "'..'"),
        ({"allow_patterns": "*.json", "options": {"allow_patterns": ["*.md"]}}, "given twice"),
        ({"allow_patterns": []}, "allow_patterns"),
        ({"version": ""}, "version"),
        ({"store": "memory://fetch-test"}, "not on this machine"),
        ({"downloader_and_store": True}, "give them to Downloader"),
    ],
)
def test_bad_arguments_are_invalid_requests_before_any_request(
    hub: TestHub, store: Path, arguments: dict[str, object], message: str
) -> None:
    """Malformed or contradictory arguments raise InvalidRequest (400) and contact no server."""
    kwargs: dict[str, Any] = {"store": store, **arguments}
    with Downloader(store) as downloader:
        if kwargs.pop("downloader_and_store", False):
            kwargs["downloader"] = downloader
        with pytest.raises(InvalidRequest, match=message) as caught:
            fetch(REPO, source="huggingface", **kwargs)
    assert caught.value.status_code == 400
    assert hub.requests == []


def test_download_url_returns_the_file_like_pooch_retrieve(server: FileServer, store: Path) -> None:
    """download_url= and checksum= return the verified file; a second call sends no request."""
    data = payload(50_000, seed=43)
    server.add_file("/weights/tiny.safetensors", data)
    url = server.url("/weights/tiny.safetensors")
    digest = f"sha256:{sha256(data)}"
    path = fetch("tiny", version="v1", download_url=url, checksum=digest, store=store)
    assert path.is_file()
    assert path.name == "tiny.safetensors"
    assert path.read_bytes() == data
    server.reset_requests()
    assert fetch("tiny", version="v1", download_url=url, store=store) == path
    assert server.requests == []
    server.add_file("/weights/other.safetensors", data)
    with pytest.raises(ChecksumMismatch):
        fetch(
            "other",
            download_url=server.url("/weights/other.safetensors"),
            checksum=f"sha256:{sha256(b'something else')}",
            store=store,
        )


def test_a_given_downloader_is_used_and_left_open(hub: TestHub, store: Path) -> None:
    """downloader= runs the call in that downloader, which stays usable afterwards."""
    with Downloader(store) as downloader:
        given = {"source": "huggingface", "downloader": downloader}
        path = fetch(REPO, filename="config.json", **given)
        [model] = downloader.list_models()
        assert path == Path(downloader.info(REPO).directory) / "config.json"
        assert model.version == hub.commit_sha(REPO, "main")
        assert fetch(REPO, filename="README.md", **given).is_file()


def test_concurrent_calls_install_once(hub: TestHub, store: Path) -> None:
    """Two threads fetching the same file get the same path; the file crosses the wire once."""
    downloading = threading.Event()
    results: dict[str, Path] = {}

    def first_progress(_snapshot: Progress) -> None:
        downloading.set()

    def run(key: str, progress: Callable[[Progress], None] | None) -> None:
        results[key] = fetch(
            REPO, source="huggingface", store=store, filename="model.safetensors", progress=progress
        )

    first = threading.Thread(target=run, args=("first", first_progress))
    first.start()
    assert downloading.wait(60), "the first call started its download"
    second = threading.Thread(target=run, args=("second", None))
    second.start()
    first.join(60)
    second.join(60)
    assert results["first"] == results["second"]
    assert results["first"].read_bytes() == DATA["model.safetensors"]
    assert len([r for r in hub.requests if r.origin == "cdn" and r.method == "GET"]) == 1
