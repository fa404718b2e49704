"""A server that answers a resume with fewer bytes than asked: never a truncated install."""

from __future__ import annotations

from pathlib import Path

from model_fetch import Downloader
from support.helpers import payload, sha256
from support.server import Fault, FileServer

DATA = payload(3_000_000, seed=53)
PATH = "/capped.bin"


def test_a_capped_range_is_continued_not_installed_short(
    downloader: Downloader, server: FileServer
) -> None:
    """A 206 that stops before the end of the file is asked again from there, never installed."""
    server.add_file(PATH, DATA)
    server.queue(PATH, Fault(drop_after=1_000_000, reset=True), Fault(cap_range=100_000))
    result = downloader.download("capped", "v1", download_url=server.url(PATH))
    assert Path(result.file_path).read_bytes() == DATA, "the whole file, no checksum needed"
    assert result.size_bytes == len(DATA)
    first, second, third = server.requests_for(PATH)
    assert "range" not in first.headers
    resumed = int(second.headers["range"].removeprefix("bytes=").rstrip("-"))
    assert third.headers["range"] == f"bytes={resumed + 100_000}-", "continued where it stopped"
    assert sha256(Path(result.file_path).read_bytes()) == sha256(DATA)
