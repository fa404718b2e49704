"""Installers in the pipeline: archives unpack safely and ready_for_inference is honest."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_fetch import Downloader
from model_fetch.http import ServerSettings, create_app
from model_fetch.install import UnsafeArchive
from model_fetch.torch import load_state_dict
from model_fetch.transfer import UrlPolicy
from support.helpers import REPO, installed_files, stray_files
from support.server import FileServer

EXAMPLE = REPO / "examples" / "models" / "tiny-mlp.safetensors"


def _torch() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("torch", reason="needs the torch extra")


def torch_bytes() -> bytes:
    torch = _torch()
    state = {"fc.weight": torch.ones(4, 3), "fc.bias": torch.zeros(4)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def model_archive(server: FileServer) -> str:
    data = tar_gz({"classifier/model.pt": torch_bytes(), "classifier/config.json": b"{}"})
    server.add_file("/classifier.tar.gz", data)
    return server.url("/classifier.tar.gz")


@pytest.mark.slow
def test_archive_of_a_real_model_is_ready(downloader: Downloader, model_archive: str) -> None:
    """A tar.gz holding a torch checkpoint installs extracted, checked and ready for inference."""
    result = downloader.download("classifier", "v1", download_url=model_archive)
    assert result.ready_for_inference is True
    assert result.readiness["checked"] == "torch.weights_only"
    assert result.readiness["reason"] is None
    info = downloader.info("classifier", "v1")
    assert sorted(f.path for f in info.files) == ["classifier/config.json", "classifier/model.pt"]
    directory = Path(result.directory)
    assert not (directory / "classifier.tar.gz").exists(), "cleanup_temp_files removes the archive"
    state = load_state_dict(directory / "classifier" / "model.pt")
    assert sorted(state) == ["fc.bias", "fc.weight"]
    assert downloader.verify("classifier").ok


@pytest.mark.slow
def test_keep_archive_and_no_extract(downloader: Downloader, model_archive: str) -> None:
    """cleanup_temp_files=false keeps the archive beside the files; no extraction keeps it whole."""
    kept = downloader.download(
        "classifier", "v1", download_url=model_archive, options={"cleanup_temp_files": False}
    )
    assert (Path(kept.directory) / "classifier.tar.gz").exists()
    assert (Path(kept.directory) / "classifier" / "model.pt").exists()
    assert downloader.cache_info().completed_downloads == 1
    whole = downloader.download(
        "classifier", "v2", download_url=model_archive, options={"extract_after_download": False}
    )
    assert [f.path for f in downloader.info("classifier", "v2").files] == ["classifier.tar.gz"]
    assert whole.ready_for_inference is False
    assert whole.readiness["reason"]


def test_safetensors_model_is_ready(downloader: Downloader, tmp_path: Path) -> None:
    """The bundled safetensors example is checked by its header and is ready for inference."""
    result = downloader.download("tiny-mlp", "v1", download_url=EXAMPLE.as_uri())
    assert result.ready_for_inference is True
    assert result.readiness["reason"] is None
    assert result.readiness["checked"] in {"safetensors.header", "safetensors.safe_open"}
    assert downloader.list_models()[0].ready_for_inference is True


def test_unchecked_file_is_not_ready(downloader: Downloader, tmp_path: Path) -> None:
    """Bytes of no known model format are installed, but never reported ready."""
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00" * 1000)
    result = downloader.download("opaque", "v1", download_url=source.as_uri())
    assert result.ready_for_inference is False
    assert "weights.bin" in result.readiness["reason"]


class Sentinel:
    """Unpickling this would create a file: the attack a checkpoint check must never run."""

    def __init__(self, path: str) -> None:
        """Remember where the file would go."""
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        """Ask the unpickler to call open(path, "w")."""
        return (open, (self.path, "w"))


@pytest.mark.slow
def test_malicious_pickle_is_never_run(downloader: Downloader, tmp_path: Path) -> None:
    """A pickle that would create a file is not ready, names the global, and never runs."""
    sentinel = tmp_path / "SENTINEL"
    source = tmp_path / "model.bin"
    source.write_bytes(pickle.dumps({"w": Sentinel(str(sentinel))}, protocol=2))
    result = downloader.download("evil", "v1", download_url=source.as_uri())
    assert result.ready_for_inference is False
    assert "open" in result.readiness["reason"]
    assert not sentinel.exists()


def hostile_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/ok.txt", b"fine")
        archive.writestr("../escaped.txt", b"gotcha")
    return buffer.getvalue()


def test_unsafe_archive_installs_nothing(
    downloader: Downloader, server: FileServer, store: Path, tmp_path: Path
) -> None:
    """An archive with a traversal member is refused whole: nothing installed or written outside."""
    server.add_file("/evil.zip", hostile_zip())
    with pytest.raises(UnsafeArchive) as caught:
        downloader.download("evil", "v1", download_url=server.url("/evil.zip"))
    assert caught.value.status_code == 400
    assert downloader.list_models() == []
    assert installed_files(store) == []
    assert stray_files(store) == []
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))


@pytest.mark.slow
def test_rest_archive_and_unsafe_archive(
    store: Path, server: FileServer, model_archive: str
) -> None:
    """Through the REST API a real model archive is ready, and a hostile one is a 400."""
    server.add_file("/evil.zip", hostile_zip())
    downloader = Downloader(store=store)
    settings = ServerSettings(
        allowed_hosts=("testserver",), url_policy=UrlPolicy(allow_private=True)
    )
    with TestClient(create_app(downloader, settings)) as client:
        body = {"model_name": "classifier", "version": "v1", "download_url": model_archive}
        response = client.post("/model-download?wait=60", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["installation"]["ready_for_inference"] is True
        evil = client.post(
            "/model-download?wait=60",
            json={"model_name": "evil", "version": "v1", "download_url": server.url("/evil.zip")},
        )
        assert evil.status_code == 400
        assert "escaped.txt" in evil.json()["detail"] or ".." in evil.json()["detail"]
        info = client.get("/model-info/classifier").json()
        assert info["readiness"] == {"checked": "torch.weights_only", "reason": None}
    downloader.close()


@pytest.mark.slow
def test_cli_archive(store: Path, model_archive: str) -> None:
    """`model-fetch download` of an archive reports ready_for_inference; --no-extract keeps it."""
    env = {**os.environ, "MODEL_FETCH_HOME": str(store)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "model_fetch",
            "download",
            "classifier",
            "--version",
            "v1",
            "--url",
            model_archive,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["installation"]["ready_for_inference"] is True
    raw = subprocess.run(
        [
            sys.executable,
            "-m",
            "model_fetch",
            "download",
            "classifier",
            "--version",
            "v2",
            "--url",
            model_archive,
            "--no-extract",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert raw.returncode == 0, raw.stderr
    assert json.loads(raw.stdout)["file_path"].endswith("classifier.tar.gz")
