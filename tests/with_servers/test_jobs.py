"""Download jobs: ids, status, live progress, sharing, conflicts, cancel and retention."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model_fetch import (
    DownloadCancelled,
    Downloader,
    DownloadInProgress,
    InvalidRequest,
    ModelExists,
    ModelNotFound,
)
from support.helpers import payload, sha256
from support.server import Fault, FileServer

DATA = payload(2_000_000, seed=31)


@pytest.fixture
def slow_url(server: FileServer) -> str:
    server.add_file("/m.bin", DATA)
    server.queue("/m.bin", Fault(drip=(100_000, 0.05)))
    return server.url("/m.bin")


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_job_runs_to_completion(store: Path, slow_url: str) -> None:
    """A submitted job has an id, reports live progress, and yields the installed result."""
    with Downloader(store=store) as dl:
        job = dl.submit("m", "v1", download_url=slow_url, checksum=sha256(DATA))
        assert job.download_id.startswith("dwnld_")
        assert job.status in {"started", "downloading"}
        wait_until(lambda: job.progress.downloaded_bytes > 0)
        assert job.status == "downloading"
        body = job.to_dict()
        assert body["status"] == "downloading"
        assert set(body["progress"]) == {
            "percentage",
            "downloaded_mb",
            "total_mb",
            "speed_mbps",
            "eta_seconds",
            "current_stage",
        }
        seen = []
        while not job.wait(0.02):
            seen.append(job.progress.downloaded_bytes)
        assert seen == sorted(seen), "progress never runs backwards"
        result = job.result()
        assert job.status == "completed"
        assert Path(result.file_path).read_bytes() == DATA
        assert job.to_dict()["status"] == "completed"
        assert dl.jobs.get(job.download_id) is job


def test_identical_requests_share_one_transfer(
    store: Path, server: FileServer, slow_url: str
) -> None:
    """Identical requests in flight share the work: one transfer, separate ids."""
    with Downloader(store=store) as dl:
        first = dl.submit("m", "v1", download_url=slow_url)
        second = dl.submit("m", "v1", download_url=slow_url)
        assert first.download_id != second.download_id
        assert first.result(30).file_path == second.result(30).file_path
    assert len(server.requests_for("/m.bin")) == 1


def test_conflicting_request_is_refused(store: Path, slow_url: str) -> None:
    """A different request for a (name, version) in flight is a 409, never shared bytes."""
    with Downloader(store=store) as dl:
        job = dl.submit("m", "v1", download_url=slow_url)
        with pytest.raises(DownloadInProgress) as caught:
            dl.submit("m", "v1", download_url=slow_url, checksum="sha256:" + "0" * 64)
        assert caught.value.status_code == 409
        job.result(30)


def test_shared_job_cancelled_only_when_all_cancel(store: Path, slow_url: str) -> None:
    """Cancelling one of two joined submissions leaves the other running; both cancel it."""
    with Downloader(store=store) as dl:
        first = dl.submit("m", "v1", download_url=slow_url)
        second = dl.submit("m", "v1", download_url=slow_url)
        wait_until(lambda: first.progress.downloaded_bytes > 0)
        assert first.cancel()
        assert first.status == "cancelled"
        assert second.status == "downloading"
        assert first.to_dict() == {
            "status": "failed",
            "message": "Download cancelled",
            "download_id": first.download_id,
            "model_name": "m",
            "version": "v1",
            "error": "Download cancelled",
            "cancelled": True,
        }
        time.sleep(0.2)
        assert second.status == "downloading"
        assert second.cancel()
        with pytest.raises(DownloadCancelled):
            second.result(10)
        assert dl.list_models() == [], "a cancelled download installs nothing"
        staging = store / ".staging"
        assert not staging.exists() or not any(staging.iterdir())


def test_failures_are_reported(store: Path, server: FileServer) -> None:
    """A failed job reports failed with the error message and status code."""
    with Downloader(store=store) as dl:
        job = dl.submit("m", "v1", download_url=server.url("/missing.bin"))
        job.wait(10)
        assert job.status == "failed"
        body = job.to_dict()
        assert body["status"] == "failed"
        assert body["status_code"] == 404
        with pytest.raises(ModelNotFound):
            job.result()


def test_submit_validates_and_refuses_existing_up_front(store: Path, server: FileServer) -> None:
    """Bad requests and if_exists="error" conflicts are refused at submit, before any byte moves."""
    server.add_file("/m.bin", DATA)
    with Downloader(store=store) as dl:
        with pytest.raises(InvalidRequest):
            dl.submit("../x", download_url=server.url("/m.bin"))
        dl.download("m", "v1", download_url=server.url("/m.bin"))
        server.reset_requests()
        with pytest.raises(ModelExists):
            dl.submit("m", "v1", download_url=server.url("/m.bin"), if_exists="error")
        assert server.requests == []
        reused = dl.submit("m", "v1", download_url=server.url("/m.bin"))
        assert reused.result(10).reused


def test_pool_is_bounded(store: Path, server: FileServer) -> None:
    """With max_concurrent_downloads=1, a second job waits as `started` until the first ends."""
    for name in ("a", "b"):
        server.add_file(f"/{name}.bin", DATA)
        server.queue(f"/{name}.bin", Fault(drip=(200_000, 0.05)))
    with Downloader(store=store, max_concurrent_downloads=1) as dl:
        first = dl.submit("a", "v1", download_url=server.url("/a.bin"))
        second = dl.submit("b", "v1", download_url=server.url("/b.bin"))
        wait_until(lambda: first.progress.downloaded_bytes > 0)
        assert second.status == "started"
        assert second.to_dict()["progress"]["percentage"] == 0
        first.result(30)
        second.result(30)


def test_close_cancels_running_jobs(store: Path, slow_url: str) -> None:
    """Closing the downloader cancels its jobs and installs nothing half-done."""
    dl = Downloader(store=store)
    job = dl.submit("m", "v1", download_url=slow_url)
    wait_until(lambda: job.progress.downloaded_bytes > 0)
    dl.close()
    assert job.status == "cancelled"
    assert Downloader(store=store).list_models() == []


def test_cancel_interrupts_a_stalled_read(store: Path, server: FileServer) -> None:
    """Cancelling a download whose server went silent takes effect at once, not at the timeout."""
    server.add_file("/stall.bin", DATA)
    server.queue("/stall.bin", Fault(stall_after=100_000))
    with Downloader(store=store) as dl:
        job = dl.submit("m", "v1", download_url=server.url("/stall.bin"), options={"timeout": 60})
        wait_until(lambda: job.progress.downloaded_bytes > 0)
        time.sleep(0.2)
        started = time.monotonic()
        assert job.cancel()
        with pytest.raises(DownloadCancelled):
            job.result(10)
        assert time.monotonic() - started < 5
        again = dl.submit("m", "v1", download_url=server.url("/stall.bin"))
        assert again.result(30).size_bytes == len(DATA)
