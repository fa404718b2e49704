"""End to end: the real ``model-fetch serve`` in a subprocess, driven by examples/rest_client.py.

Every server binds 127.0.0.1 on a free port and downloads from the FileServer fixture (also on
127.0.0.1); nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.helpers import COMPLETED_KEYS, PROGRESS_KEYS, REPO, payload
from support.rest import RestServer, start_rest
from support.server import Fault, FileServer

sys.path.insert(0, str(REPO / "examples"))

from rest_client import ModelDownloadClient, ModelDownloadError

INSTALLATION_KEYS = {"status", "installed_at", "model_id", "ready_for_inference"}
STARTED_KEYS = {
    "status",
    "message",
    "download_id",
    "model_name",
    "version",
    "estimated_size_mb",
    "estimated_duration_seconds",
    "download_url",
    "progress_endpoint",
}
TOKEN = "s3cret-token"


def _start(tmp_path: Path, store: Path, name: str, *extra: str) -> RestServer:
    return start_rest(tmp_path, store, name, *extra)


@pytest.fixture
def rest(tmp_path: Path, store: Path) -> Iterator[RestServer]:
    rest = _start(tmp_path, store, "serve")
    try:
        yield rest
    finally:
        rest.stop()


@pytest.fixture
def token_rest(tmp_path: Path, store: Path) -> Iterator[RestServer]:
    rest = _start(tmp_path, store, "token", "--token", TOKEN)
    try:
        yield rest
    finally:
        rest.stop()


@pytest.fixture
def client(rest: RestServer) -> Iterator[ModelDownloadClient]:
    with ModelDownloadClient(rest.url) as client:
        yield client


def _slow_file(server: FileServer, path: str, size: int, drip: tuple[int, float]) -> bytes:
    data = payload(size, seed=len(path))
    server.add_file(path, data)
    server.queue(path, Fault(drip=drip))
    return data


def test_slow_download_starts_then_completes(
    client: ModelDownloadClient, server: FileServer
) -> None:
    """A slow download answers "started"; polling sees rising progress, then "completed"."""
    data = _slow_file(server, "/slow.bin", 240_000, (24_000, 0.12))
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.start_download(
        "slow-model", "v1.0", download_url=server.url("/slow.bin"), checksum=checksum
    )
    assert set(started) == STARTED_KEYS
    assert started["status"] == "started"
    assert started["progress_endpoint"] == f"/model-download/{started['download_id']}/progress"
    seen: list[dict] = []
    final = client.wait_for_download(started, seen.append, poll_interval=0.1, max_wait=20)
    downloading = [body for body in seen if body["status"] == "downloading"]
    assert downloading, seen
    assert all(set(body["progress"]) == PROGRESS_KEYS for body in downloading)
    percentages = [body["progress"]["percentage"] for body in downloading]
    assert percentages == sorted(percentages)
    assert all(0 <= value <= 100 for value in percentages)
    assert seen[-1] is final
    assert set(final) == set(COMPLETED_KEYS)
    assert set(final["installation"]) == INSTALLATION_KEYS
    assert final["status"] == "completed"
    assert final["checksum_verified"] is True
    assert final["installation"]["status"] == "success"
    assert Path(final["file_path"]).read_bytes() == data
    assert client.verify_download("slow-model", "v1.0")
    assert client.model_info("slow-model")["files"][0]["sha256"] == checksum[7:]


def test_download_model_polls_to_completion(
    client: ModelDownloadClient, server: FileServer
) -> None:
    """download_model() hides the polling: it returns the completed body of a slow download."""
    _slow_file(server, "/poll.bin", 120_000, (20_000, 0.1))
    bodies: list[dict] = []
    result = client.download_model(
        "poll-model",
        "v2",
        download_url=server.url("/poll.bin"),
        progress_callback=bodies.append,
        poll_interval=0.1,
        max_wait=20,
    )
    assert result["status"] == "completed"
    assert result["checksum_verified"] is False
    assert bodies[-1] == result


class CountingClient(ModelDownloadClient):
    """The example client, counting how many download_model calls overlap."""

    def __init__(self, *args, **kwargs) -> None:
        """Start with no call running."""
        super().__init__(*args, **kwargs)
        self.running = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    def download_model(self, *args, **kwargs):
        """Count the call while the real download_model runs."""
        with self._count_lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return super().download_model(*args, **kwargs)
        finally:
            with self._count_lock:
                self.running -= 1


def test_batch_of_three_with_two_at_a_time(rest: RestServer, server: FileServer) -> None:
    """download_batch runs at most two downloads at once; every model then verifies."""
    names = ["batch-a", "batch-b", "batch-c"]
    for name in names:
        _slow_file(server, f"/{name}.bin", 60_000, (20_000, 0.1))
    models = [
        {
            "model_name": name,
            "version": "v1",
            "download_url": server.url(f"/{name}.bin"),
            "poll_interval": 0.1,
        }
        for name in names
    ]
    with CountingClient(rest.url) as client:
        results = client.download_batch(models, max_concurrent=2)
        assert list(results) == names
        assert {result["status"] for result in results.values()} == {"completed"}
        assert client.peak == 2
        assert set(client._sessions) <= {threading.get_ident()}  # pool sessions closed
        for name in names:
            assert client.verify_download(name, "v1")
        assert not client.verify_download("batch-a", "v2")


def test_redownload_without_force_is_409(client: ModelDownloadClient, server: FileServer) -> None:
    """Downloading an installed version again is 409 unless force_download is set."""
    server.add_file("/dup.bin", payload(10_000))
    url = server.url("/dup.bin")
    assert client.download_model("dup", "v1", download_url=url)["status"] == "completed"
    with pytest.raises(ModelDownloadError) as caught:
        client.download_model("dup", "v1", download_url=url)
    assert caught.value.status_code == 409
    assert "force_download" in caught.value.detail
    forced = client.download_model("dup", "v1", download_url=url, force_download=True)
    assert forced["status"] == "completed"
    results = client.download_batch([{"model_name": "dup", "version": "v1", "download_url": url}])
    assert results["dup"]["status"] == "failed"
    assert results["dup"]["status_code"] == 409


def test_unknown_download_id_is_404(client: ModelDownloadClient) -> None:
    """Progress and cancel of an unknown download id are 404 with a detail."""
    for call in (client.get_download_status, client.cancel):
        with pytest.raises(ModelDownloadError) as caught:
            call("dwnld_0000000000000000")
        assert caught.value.status_code == 404
        assert "not found" in caught.value.detail


def test_cancel_a_slow_download(client: ModelDownloadClient, server: FileServer) -> None:
    """A cancelled download reports failed + cancelled and leaves /models without it."""
    _slow_file(server, "/cancel.bin", 1_000_000, (10_000, 0.1))
    started = client.start_download("to-cancel", "v1", download_url=server.url("/cancel.bin"))
    assert started["status"] == "started"
    download_id = started["download_id"]
    loading = [m for m in client.list_models() if m["status"] == "loading"]
    assert loading == [
        {"name": "to-cancel", "version": "v1", "status": "loading", "download_id": download_id}
    ]
    answer = client.cancel(download_id)
    assert answer == {
        "status": "cancelled",
        "message": "Download cancelled",
        "download_id": download_id,
    }
    status = client.get_download_status(download_id)
    assert status["status"] == "failed"
    assert status["cancelled"] is True
    assert status["message"] == "Download cancelled"
    assert not [m for m in client.list_models() if m["name"] == "to-cancel"]
    assert not client.verify_download("to-cancel", "v1")
    with pytest.raises(ModelDownloadError) as caught:
        client.cancel(download_id)
    assert caught.value.status_code == 409


def test_token_required_except_for_health(token_rest: RestServer, server: FileServer) -> None:
    """With --token, API routes answer 401 without (or with a wrong) token; /health does not."""
    rest = token_rest
    server.add_file("/tok.bin", payload(5_000))
    with (
        ModelDownloadClient(rest.url) as anonymous,
        ModelDownloadClient(rest.url, token=TOKEN[::-1]) as wrong,
        ModelDownloadClient(rest.url, token=TOKEN) as authorised,
    ):
        assert anonymous.health()["status"] == "ok"
        for unauthorised in (anonymous, wrong):
            with pytest.raises(ModelDownloadError) as caught:
                unauthorised.list_models()
            assert caught.value.status_code == 401
            with pytest.raises(ModelDownloadError) as caught:
                unauthorised.download_model("tok", "v1", download_url=server.url("/tok.bin"))
            assert caught.value.status_code == 401
        assert server.requests_for("/tok.bin") == []
        assert authorised.list_models() == []
        result = authorised.download_model("tok", "v1", download_url=server.url("/tok.bin"))
        assert result["status"] == "completed"
        assert authorised.verify_download("tok", "v1")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_commands(rest: RestServer, server: FileServer) -> None:
    """The contract's curl examples get JSON answers: completed, then 409 without force."""
    server.add_file("/curl.bin", payload(20_000))
    body = json.dumps(
        {"model_name": "resnet50", "version": "v1.0", "download_url": server.url("/curl.bin")}
    )
    # A large ?wait makes the answer synchronous (docs/rest.md): the server answers when the job
    # ends, so a busy machine cannot turn "completed" into "started".
    command = [
        "curl",
        "-s",
        "--max-time",
        "600",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        f"{rest.url}/model-download?wait=600",
        "-H",
        "Content-Type: application/json",
        "-d",
    ]

    def curl(data: str) -> tuple[dict, int]:
        done = subprocess.run(
            [*command, data], capture_output=True, text=True, timeout=620, check=True
        )
        text, _, code = done.stdout.rpartition("\n")
        return json.loads(text), int(code)

    answer, code = curl(body)
    assert code == 200
    assert answer["status"] == "completed"
    assert answer["installation"]["model_id"] == "resnet50_v1.0"
    answer, code = curl(body)
    assert code == 409
    assert set(answer) == {"detail"}
    answer, code = curl('{"version": "v1.0"}')
    assert code == 400
    assert "model_name" in answer["detail"]
    listing = subprocess.run(
        ["curl", "-s", "--max-time", "10", f"{rest.url}/models"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert [m["name"] for m in json.loads(listing.stdout)["models"]] == ["resnet50"]
