"""A failed download keeps a partial only when a later call can resume it."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_fetch import Downloader, DownloadFailed
from support.helpers import FakeClock, payload
from support.server import Fault, FileServer

DATA = payload(100_000, seed=6)


def _partials(store: Path) -> list[Path]:
    return [path for path in store.rglob("*.part") if path.is_file()]


def test_a_failure_before_any_body_leaves_no_part_file(
    store: Path, server: FileServer, clock: FakeClock
) -> None:
    """Answers of 503 only: the download fails and no (zero-byte) .part file is left behind."""
    server.add_file("/busy.bin", DATA)
    for _ in range(2):
        server.queue("/busy.bin", Fault(status=503))
    with Downloader(store=store, clock=clock) as dl, pytest.raises(DownloadFailed):
        dl.download("busy", "v1", download_url=server.url("/busy.bin"), options={"retry_count": 1})
    assert _partials(store) == []


def test_a_resumable_partial_is_kept(store: Path, server: FileServer, clock: FakeClock) -> None:
    """A body cut short by a server with a validator stays on disk for the next call to resume."""
    server.add_file("/cut.bin", DATA)
    server.queue("/cut.bin", Fault(drop_after=40_000))
    url = server.url("/cut.bin")
    with Downloader(store=store, clock=clock) as dl:
        with pytest.raises(DownloadFailed):
            dl.download("cut", "v1", download_url=url, options={"retry_count": 0})
        assert len(_partials(store)) == 1
        sent = server.bytes_sent
        result = dl.download("cut", "v1", download_url=url)
    assert Path(result.file_path).read_bytes() == DATA
    assert server.bytes_sent - sent == len(DATA) - 40_000  # resumed, not restarted
