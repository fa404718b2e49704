"""The fleet mirror on S3 (moto): one origin download per fleet, takeover, repair, fallbacks."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from model_fetch import (
    Downloader,
    MirrorConfig,
    OfflineModeError,
    Progress,
    StoreUnavailable,
)
from support.helpers import payload, sha256
from support.s3 import free_port

if TYPE_CHECKING:
    from pathlib import Path

    from support.s3 import MotoServer
    from support.server import FileServer

pytestmark = pytest.mark.timeout(150)

MODEL = payload(8 * 2**20, seed=11)
SMALL = payload(400_000, seed=12)
TTL = "3"  # seconds: short for tests, long enough for renewals on a loaded machine


def _node(
    s3: MotoServer, tmp_path: Path, index: int, mirror: str, url: str, *extra: str
) -> subprocess.Popen[str]:
    """One fleet node: a separate process with its own local store."""
    env = {**os.environ, **s3.env, "MODEL_FETCH_LEASE_TTL": TTL}
    command = [
        sys.executable,
        "-m",
        "model_fetch",
        "--store",
        str(tmp_path / f"node{index}"),
        "--mirror",
        mirror,
        *extra,
        "download",
        "fleet/model",
        "--version",
        "v1",
        "--url",
        url,
        "--checksum",
        sha256(MODEL),
        "--json",
    ]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.slow
def test_four_nodes_one_origin_download(s3: MotoServer, server: FileServer, tmp_path: Path) -> None:
    """Four nodes at once pull the model from the origin once; a fifth makes no origin request."""
    bucket = s3.new_bucket()
    mirror = f"s3://{bucket}/mirror"
    server.add_file("/model.bin", MODEL)
    server.rate_limit = 8 * 2**20  # a second per download: the others must wait on the lease
    nodes = [_node(s3, tmp_path, i, mirror, server.url("/model.bin")) for i in range(4)]
    outcomes = [_finish(node) for node in nodes]
    for code, _out, err in outcomes:
        assert code == 0, err
    for i in range(4):
        installed = list((tmp_path / f"node{i}" / "models").rglob("model.bin"))
        assert [p.read_bytes() == MODEL for p in installed] == [True]
    assert len(MODEL) <= server.bytes_sent < 1.25 * len(MODEL), "about one model's worth"

    server.reset_requests()
    code, _out, err = _finish(_node(s3, tmp_path, 4, mirror, server.url("/model.bin")))
    assert code == 0, err
    assert server.requests == [], "a later node gets it from the mirror alone"


def _lease_objects(s3: MotoServer, prefix: str) -> list[str]:
    fs = s3.filesystem()
    found = fs.find(f"{prefix}/.leases")  # type: ignore[attr-defined]
    return [p for p in found if not p.rsplit("/", 1)[-1].startswith(".")]


@pytest.mark.slow
def test_killed_lease_holder_is_taken_over(
    s3: MotoServer, server: FileServer, tmp_path: Path
) -> None:
    """Kill -9 of the node fetching from the origin: another takes over once the lease expires."""
    bucket = s3.new_bucket()
    mirror = f"s3://{bucket}/mirror"
    server.add_file("/model.bin", MODEL)
    server.rate_limit = 512 * 1024  # the first node would need 16 s
    first = _node(s3, tmp_path, 0, mirror, server.url("/model.bin"))
    deadline = time.monotonic() + 30
    while not (_lease_objects(s3, f"{bucket}/mirror") and server.bytes_sent > 0):
        assert time.monotonic() < deadline, "the first node never took the lease"
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()
    server.rate_limit = None
    started = time.monotonic()
    code, _out, err = _finish(_node(s3, tmp_path, 1, mirror, server.url("/model.bin")))
    assert code == 0, err
    assert "Took over the expired lease" in err
    assert time.monotonic() - started >= float(TTL), "only after the lease time"
    record = json.loads(s3.filesystem().cat_file(_record(bucket)))  # type: ignore[attr-defined]
    assert record["files"][0]["sha256"] == sha256(MODEL)


def _record(bucket: str) -> str:
    return f"{bucket}/mirror/models/fleet%2Fmodel/v1/install.json"


@pytest.mark.slow
def test_corrupt_mirror_object_is_reported_refetched_and_repaired(
    s3: MotoServer, server: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mirror object that does not match is never installed; the origin repairs the mirror."""
    bucket = s3.new_bucket()
    mirror = f"s3://{bucket}/mirror"
    server.add_file("/model.bin", SMALL)
    url, digest = server.url("/model.bin"), sha256(SMALL)
    fs = s3.filesystem()
    origin: list[Progress] = []
    with Downloader(store=tmp_path / "a", mirror=mirror, lease_ttl=2) as dl:
        dl.download("fleet/model", "v1", download_url=url, checksum=digest, progress=origin.append)
    assert {p.bytes_from for p in origin} == {"origin"}
    first = json.loads(fs.cat_file(_record(bucket)))  # type: ignore[attr-defined]
    obj = f"{bucket}/mirror/models/fleet%2Fmodel/v1/{first['generation']}/model.bin"
    fs.pipe_file(obj, b"\0" * len(SMALL))  # type: ignore[attr-defined]

    server.reset_requests()
    with (
        caplog.at_level(logging.ERROR),
        Downloader(store=tmp_path / "b", mirror=mirror, lease_ttl=2) as dl,
    ):
        result = dl.download("fleet/model", "v1", download_url=url, checksum=digest)
    assert "Corrupt object on the mirror" in caplog.text
    assert len(server.requests_for("/model.bin")) == 1, "fell back to the origin"
    installed = list((tmp_path / "b" / "models").rglob("model.bin"))
    assert [p.read_bytes() for p in installed] == [SMALL]
    assert result.checksum_verified

    repaired = json.loads(fs.cat_file(_record(bucket)))  # type: ignore[attr-defined]
    assert repaired["generation"] != first["generation"]
    server.reset_requests()
    later: list[Progress] = []
    with Downloader(store=tmp_path / "c", mirror=mirror, lease_ttl=2) as dl:
        dl.download("fleet/model", "v1", download_url=url, checksum=digest, progress=later.append)
    assert server.requests == [], "the repaired mirror serves the next node"
    assert {p.bytes_from for p in later} == {"mirror"}


@pytest.mark.slow
def test_poisoned_mirror_is_checked_against_the_request_digest(
    s3: MotoServer, server: FileServer, tmp_path: Path
) -> None:
    """Consistent but wrong mirror content (pushed by a bad node) loses to the request digest."""
    bucket = s3.new_bucket()
    mirror = f"s3://{bucket}/mirror"
    bad = payload(len(SMALL), seed=99)
    server.add_file("/bad/model.bin", bad)
    server.add_file("/model.bin", SMALL)
    with Downloader(store=tmp_path / "bad", mirror=MirrorConfig(mirror, read_only=True)) as dl:
        dl.download("fleet/model", "v1", download_url=server.url("/bad/model.bin"))
    pushed = subprocess.run(
        [
            *(sys.executable, "-m", "model_fetch", "--store", str(tmp_path / "bad")),
            *("--mirror", mirror, "mirror", "push", "fleet/model", "--version", "v1", "--json"),
        ],
        env={**os.environ, **s3.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["files"][0]["sha256"] == sha256(bad)

    with Downloader(store=tmp_path / "good", mirror=mirror, lease_ttl=2) as dl:
        dl.download(
            "fleet/model", "v1", download_url=server.url("/model.bin"), checksum=sha256(SMALL)
        )
    installed = list((tmp_path / "good" / "models").rglob("model.bin"))
    assert [p.read_bytes() for p in installed] == [SMALL]
    record = json.loads(s3.filesystem().cat_file(_record(bucket)))  # type: ignore[attr-defined]
    assert record["files"][0]["sha256"] == sha256(SMALL), "repaired"


def test_unreachable_mirror_warns_or_fails_when_required(
    s3: MotoServer, server: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable mirror is a warning (origin used), or StoreUnavailable when required."""
    server.add_file("/model.bin", SMALL)
    dead = {
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "config_kwargs": {"retries": {"max_attempts": 1}},
        "retries": 1,
    }
    url = server.url("/model.bin")
    with (
        caplog.at_level(logging.WARNING),
        Downloader(
            store=tmp_path / "a", mirror=MirrorConfig("s3://mf-dead/mirror", storage_options=dead)
        ) as dl,
    ):
        assert not dl.download("m", "v1", download_url=url).reused
    assert "downloading from the origin instead" in caplog.text
    with (
        Downloader(
            store=tmp_path / "b",
            mirror=MirrorConfig("s3://mf-dead/mirror", storage_options=dead, required=True),
        ) as dl,
        pytest.raises(StoreUnavailable),
    ):
        dl.download("m", "v1", download_url=url)
    assert not list((tmp_path / "b").rglob("install.json"))


def test_offline_allows_the_mirror_not_the_origin(
    s3: MotoServer, server: FileServer, tmp_path: Path
) -> None:
    """MODEL_FETCH_OFFLINE installs from the mirror and never contacts the origin."""
    bucket = s3.new_bucket()
    mirror = f"s3://{bucket}/mirror"
    server.add_file("/model.bin", SMALL)
    url = server.url("/model.bin")
    with Downloader(store=tmp_path / "a", mirror=mirror) as dl:
        dl.download("fleet/model", "v1", download_url=url)
    server.reset_requests()
    with Downloader(store=tmp_path / "b", mirror=mirror, offline=True) as dl:
        result = dl.download("fleet/model", "v1", download_url=url, checksum=sha256(SMALL))
        assert result.checksum_verified
        with pytest.raises(OfflineModeError):
            dl.download("fleet/other", "v1", download_url=url)
        with pytest.raises(OfflineModeError):  # the mirror's copy fails the request's digest
            dl.download("fleet/model", "v1", force_download=True, checksum="0" * 64)
    assert server.requests == []


def test_read_only_and_private_downloads_are_not_published(
    s3: MotoServer, server: FileServer, tmp_path: Path
) -> None:
    """--mirror-read-only never writes; credentialed downloads publish only when opted in."""
    bucket = s3.new_bucket()
    mirror = f"s3://{bucket}/mirror"
    server.add_file("/model.bin", SMALL)
    fs = s3.filesystem()
    with Downloader(store=tmp_path / "a", mirror=MirrorConfig(mirror, read_only=True)) as dl:
        job = dl.submit("ro", "v1", download_url=server.url("/model.bin"))
        job.result(timeout=60)
        assert job.progress.to_dict()["bytes_from"] == "origin", "the REST progress object"
    private = server.url("/model.bin").replace("http://", "http://user:secret@")
    with Downloader(store=tmp_path / "b", mirror=mirror) as dl:
        dl.download("private", "v1", download_url=private)
    assert fs.find(f"{bucket}/mirror/models") == []  # type: ignore[attr-defined]
    with Downloader(store=tmp_path / "c", mirror=MirrorConfig(mirror, publish_private=True)) as dl:
        dl.download("private", "v1", download_url=private)
    published = fs.find(f"{bucket}/mirror/models")  # type: ignore[attr-defined]
    assert any(p.endswith("install.json") for p in published)
    assert not any("secret" in fs.cat_file(p).decode(errors="replace") for p in published)  # type: ignore[attr-defined]
