"""Which submissions share one job: only those whose outcome cannot differ (issue 13's bugs)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from model_fetch import DownloadCancelled, Downloader, DownloadInProgress
from support.helpers import payload
from support.server import Fault, FileServer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from model_fetch import DownloadJob

WEIGHTS = payload(300_000, seed=7)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def one_worker(store: Path, server: FileServer) -> Iterator[tuple[Downloader, DownloadJob]]:
    """A one-worker downloader whose worker is held by a stalled download until cancelled.

    Jobs submitted after it queue behind it (in flight, not yet running), so a second submission
    meets the first one for certain, however fast the first would have finished.
    """
    server.add_file("/blocker.bin", payload(1_000_000, seed=8))
    server.queue("/blocker.bin", Fault(stall_after=100_000))
    with Downloader(store=store, max_concurrent_downloads=1) as dl:
        blocker = dl.submit(
            "blocker", "v1", download_url=server.url("/blocker.bin"), options={"timeout": 60}
        )
        yield dl, blocker


def test_keep_temp_files_is_never_joined_to_a_cleanup_job(
    one_worker: tuple[Downloader, DownloadJob], server: FileServer
) -> None:
    """A caller who asks to keep the archive is not handed a job that deletes it."""
    dl, blocker = one_worker
    server.add_file("/model.tar.gz", _tar_gz({"model/weights.bin": WEIGHTS}))
    url = server.url("/model.tar.gz")
    cleaning = dl.submit("m", "v1", download_url=url)
    with pytest.raises(DownloadInProgress):
        dl.submit("m", "v1", download_url=url, options={"cleanup_temp_files": False})
    blocker.cancel()
    with pytest.raises(DownloadCancelled):
        blocker.result(10)
    result = cleaning.result(30)
    assert not (Path(result.directory) / "model.tar.gz").exists()
    kept = dl.submit(
        "m", "v1", download_url=url, force_download=True, options={"cleanup_temp_files": False}
    )
    assert (Path(kept.result(30).directory) / "model.tar.gz").exists()


@pytest.mark.parametrize(
    "strict", [{"timeout": 1e-300, "retry_count": 0}, {"retry_count": 0, "connections": 4}]
)
def test_transfer_settings_are_never_shared(
    one_worker: tuple[Downloader, DownloadJob], server: FileServer, strict: dict[str, object]
) -> None:
    """One caller's timeout or retries never fail another caller's download: no shared job."""
    dl, blocker = one_worker
    server.add_file("/m.bin", WEIGHTS)
    url = server.url("/m.bin")
    first = dl.submit("m", "v1", download_url=url, options=strict)
    with pytest.raises(DownloadInProgress):
        dl.submit("m", "v1", download_url=url)
    blocker.cancel()
    first.wait(30)
    again = dl.submit("m", "v1", download_url=url)
    assert again.result(30).size_bytes == len(WEIGHTS)
