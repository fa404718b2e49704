"""The `local` source: a registry directory laid out as <name>/<version>/files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import fsspec
import pytest

from model_fetch import ChecksumMismatch, Downloader, InvalidRequest, ModelNotFound
from model_fetch.sources.local import natural_key
from support.helpers import payload, sha256

DATA = payload(64_000, seed=5)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    for version in ("v2", "v9", "v10"):
        (root / "bert" / version).mkdir(parents=True)
        (root / "bert" / version / "model.bin").write_bytes(DATA + version.encode())
    multi = root / "org" / "llm" / "1.0"
    (multi / "tokenizer").mkdir(parents=True)
    (multi / "weights.safetensors").write_bytes(DATA)
    (multi / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    vocab = hashlib.sha256(b"a\nb\n").hexdigest()
    (multi / "SHA256SUMS").write_text(
        f"{sha256(DATA)}  weights.safetensors\n{vocab} *tokenizer/vocab.txt\n"
    )
    return root


@pytest.fixture
def dl(registry: Path, store: Path) -> Downloader:
    return Downloader(store=store, local_registry=registry)


def test_latest_is_natural_order(dl: Downloader) -> None:
    """`latest` is the highest version in natural order: v10 > v9 > v2."""
    result = dl.download("bert", source="local")
    assert result.version == "v10"
    assert Path(result.file_path).read_bytes() == DATA + b"v10"
    assert sorted(["v2", "v10", "v9", "v1.10", "v1.9"], key=natural_key) == [
        "v1.9",
        "v1.10",
        "v2",
        "v9",
        "v10",
    ]


def test_multi_file_model_with_sums(dl: Downloader, store: Path) -> None:
    """Every file of the version is installed; SHA256SUMS digests are verified and not installed."""
    result = dl.download("org/llm", "1.0", source="local")
    assert result.checksum_verified
    directory = Path(result.file_path)
    assert directory.is_dir()
    assert sorted(
        p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()
    ) == [
        "tokenizer/vocab.txt",
        "weights.safetensors",
    ]


def test_sums_mismatch_installs_nothing(dl: Downloader, registry: Path) -> None:
    """A registry file that no longer matches its SHA256SUMS line is refused."""
    (registry / "org" / "llm" / "1.0" / "weights.safetensors").write_bytes(DATA[::-1])
    with pytest.raises(ChecksumMismatch):
        dl.download("org/llm", "1.0", source="local")
    assert dl.list_models() == []


def test_copy_is_never_a_hard_link(dl: Downloader, registry: Path) -> None:
    """The installed file is an independent copy: editing the registry later changes nothing."""
    result = dl.download("bert", "v2", source="local")
    installed = Path(result.file_path)
    original = registry / "bert" / "v2" / "model.bin"
    assert installed.stat().st_ino != original.stat().st_ino
    assert installed.stat().st_nlink == 2  # itself and the store's own blob (docs/store.md)
    with original.open("r+b") as handle:
        handle.write(b"EDITED")
    assert installed.read_bytes() == DATA + b"v2"
    assert dl.info("bert", "v2").files[0].sha256 == sha256(DATA + b"v2")


def test_unknown_model_and_version(dl: Downloader) -> None:
    """Unknown models and versions are 404 with the contract's message."""
    with pytest.raises(ModelNotFound, match="Model 'nope' not found in repository"):
        dl.download("nope", source="local")
    with pytest.raises(ModelNotFound, match="version 'v3'"):
        dl.download("bert", "v3", source="local")


def test_no_registry_configured(store: Path) -> None:
    """Without a registry the source says how to configure one."""
    with (
        Downloader(store=store) as dl,
        pytest.raises(InvalidRequest, match="MODEL_FETCH_LOCAL_REGISTRY"),
    ):
        dl.download("bert", source="local")


def test_registry_from_environment_and_fsspec(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MODEL_FETCH_LOCAL_REGISTRY may be any fsspec URL (here memory://)."""
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/reg-test/tiny/v1/model.bin", DATA)
    monkeypatch.setenv("MODEL_FETCH_LOCAL_REGISTRY", "memory://reg-test")
    with Downloader(store=store) as dl:
        result = dl.download("tiny", source="local")
    assert result.version == "v1"
    assert Path(result.file_path).read_bytes() == DATA
    assert os.path.getsize(result.file_path) == len(DATA)


def test_rest_with_source_local(registry: Path, store: Path) -> None:
    """POST /model-download with source "local" installs from the registry."""
    from fastapi.testclient import TestClient  # noqa: PLC0415 - the http extra, used here only

    from model_fetch.http import ServerSettings, create_app  # noqa: PLC0415

    downloader = Downloader(store=store, local_registry=registry)
    with TestClient(
        create_app(downloader, ServerSettings(allowed_hosts=("testserver",)))
    ) as client:
        response = client.post("/model-download", json={"model_name": "bert", "source": "local"})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == "v10"
    downloader.close()
