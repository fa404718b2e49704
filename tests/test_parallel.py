"""Parallel ranged downloads of large files: exact ranges, per-range retries, safe fallback."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from model_fetch import Downloader
from model_fetch.transfer._parallel import PARALLEL_MIN_SIZE, SEGMENT_SIZE
from support.server import Fault, FileServer

BIG = os.urandom(PARALLEL_MIN_SIZE + 6 * 1024 * 1024)  # 70 MiB: five 16 MiB segments
DIGEST = hashlib.sha256(BIG).hexdigest()
PATH = "/large.bin"
FOUR = {"connections": 4}


@pytest.fixture
def url(server: FileServer) -> str:
    server.add_file(PATH, BIG)
    return server.url(PATH)


def ranges(server: FileServer) -> list[str]:
    return [r.headers["range"] for r in server.requests_for(PATH) if "range" in r.headers]


def test_large_file_uses_several_connections(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A large file on a server with ranges arrives in exact segments, guarded by If-Range."""
    result = downloader.download(
        "big", "v1", download_url=url, checksum=f"sha256:{DIGEST}", options=FOUR
    )
    assert result.checksum_verified
    assert Path(result.file_path).read_bytes() == BIG
    segments = (len(BIG) + SEGMENT_SIZE - 1) // SEGMENT_SIZE
    expected = [
        f"bytes={start}-{min(start + SEGMENT_SIZE, len(BIG)) - 1}"
        for start in range(0, len(BIG), SEGMENT_SIZE)
    ]
    assert sorted(ranges(server)) == sorted(expected)
    assert len(server.requests_for(PATH)) == segments + 1, "one probe, then one request a segment"
    assert all(r.headers.get("if-range") for r in server.requests_for(PATH) if "range" in r.headers)


def test_a_failing_range_is_retried_alone(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A connection lost inside one segment resumes that segment only."""
    server.queue(PATH, Fault(), Fault(drop_after=1_000_000, reset=True))
    result = downloader.download(
        "big", "v1", download_url=url, checksum=f"sha256:{DIGEST}", options=FOUR
    )
    assert Path(result.file_path).read_bytes() == BIG
    segments = (len(BIG) + SEGMENT_SIZE - 1) // SEGMENT_SIZE
    assert len(server.requests_for(PATH)) == segments + 2


def test_broken_range_support_falls_back_to_one_stream(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A server that answers a range request with the whole file makes the download fall back."""
    server.queue(PATH, Fault(), Fault(ignore_range=True))
    result = downloader.download(
        "big", "v1", download_url=url, checksum=f"sha256:{DIGEST}", options=FOUR
    )
    assert Path(result.file_path).read_bytes() == BIG
    last = server.requests_for(PATH)[-1]
    assert "range" not in last.headers, "the fallback fetches the file in one stream"


def test_wrong_content_range_is_never_placed(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A segment answered with another range than asked is refused, never written in place."""
    server.queue(PATH, Fault(), Fault(bad_content_range_start=5))
    result = downloader.download(
        "big", "v1", download_url=url, checksum=f"sha256:{DIGEST}", options=FOUR
    )
    assert Path(result.file_path).read_bytes() == BIG


def test_one_connection_means_one_stream(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """The default, one connection, downloads in a single stream."""
    downloader.download("big", "v1", download_url=url)
    assert len(server.requests_for(PATH)) == 1
    assert ranges(server) == []


def test_small_files_are_not_split(downloader: Downloader, server: FileServer) -> None:
    """Files below the threshold take one request."""
    server.add_file("/small.bin", BIG[: 1024 * 1024])
    downloader.download("small", "v1", download_url=server.url("/small.bin"), options=FOUR)
    assert len(server.requests_for("/small.bin")) == 1
