"""Parallel ranged downloads of large files: exact ranges, per-range retries, safe fallback."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_fetch import Downloader, DownloadFailed
from model_fetch.transfer import PartialFile
from model_fetch.transfer._parallel import PARALLEL_MIN_SIZE, SEGMENT_SIZE, Coverage
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


def test_a_failed_parallel_download_resumes_only_the_missing_ranges(
    store: Path, server: FileServer, url: str
) -> None:
    """Segments finished before a failure are kept on disk and never fetched again."""
    # The probe and the first four segments succeed; the fifth connection is reset at once.
    server.queue(PATH, *[Fault()] * 5, Fault(reset=True))
    options = {**FOUR, "retry_count": 0}
    with Downloader(store=store) as dl, pytest.raises(DownloadFailed):
        dl.download("big", "v1", download_url=url, options=options)
    (sidecar,) = (store / ".partials").glob("*.json")
    assert json.loads(sidecar.read_text())["ranges"] == [[0, 4 * SEGMENT_SIZE]]
    server.reset_requests()
    with Downloader(store=store) as dl:  # a new instance, as a later process would be
        result = dl.download(
            "big", "v1", download_url=url, checksum=f"sha256:{DIGEST}", options=FOUR
        )
    assert Path(result.file_path).read_bytes() == BIG
    assert ranges(server) == [f"bytes={4 * SEGMENT_SIZE}-{len(BIG) - 1}"]
    assert len(server.requests_for(PATH)) == 2, "a probe, then only the missing segment"
    assert not list((store / ".partials").glob("*.json"))


def test_a_parallel_partial_of_a_changed_file_is_not_reused(
    store: Path, server: FileServer, url: str
) -> None:
    """Kept ranges belong to one version of the file: a new ETag fetches everything again."""
    server.queue(PATH, *[Fault()] * 5, Fault(reset=True))
    with Downloader(store=store) as dl, pytest.raises(DownloadFailed):
        dl.download("big", "v1", download_url=url, options={**FOUR, "retry_count": 0})
    changed = bytes(reversed(BIG))
    server.add_file(PATH, changed)
    server.reset_requests()
    with Downloader(store=store) as dl:
        result = dl.download(
            "big",
            "v1",
            download_url=url,
            checksum=f"sha256:{hashlib.sha256(changed).hexdigest()}",
            options=FOUR,
        )
    assert Path(result.file_path).read_bytes() == changed
    assert len(ranges(server)) == (len(BIG) + SEGMENT_SIZE - 1) // SEGMENT_SIZE


def test_a_slow_range_is_split_over_idle_connections(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """One connection dripping at ~1 MB/s does not hold the whole file back."""
    server.queue(PATH, Fault(), Fault(drip=(64 * 1024, 0.05)))
    result = downloader.download(
        "big", "v1", download_url=url, checksum=f"sha256:{DIGEST}", options=FOUR
    )
    assert Path(result.file_path).read_bytes() == BIG
    starts = [int(r.removeprefix("bytes=").split("-")[0]) for r in ranges(server)]
    assert any(start % SEGMENT_SIZE for start in starts), "the slow segment was split"


def test_resume_sidecar_ranges_are_untrusted(tmp_path: Path) -> None:
    """A sidecar whose ranges overlap, run backwards or pass the file's end is ignored."""
    partial = PartialFile(str(tmp_path), "k", "http://127.0.0.1/x")
    Path(partial.path).write_bytes(b"\0" * 100)
    for bad in [((0, 50), (40, 60)), ((10, 5),), ((0, 101),)]:
        partial.save(validator='"v"', size=100, completed=0, ranges=bad)
        assert partial.load() is None
    partial.save(validator='"v"', size=100, completed=50, ranges=((0, 50), (60, 100)))
    state = partial.load()
    assert state is not None
    assert state.ranges == ((0, 50), (60, 100))


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 60)), max_size=30))
def test_coverage_merges_like_a_set_of_bytes(spans: list[tuple[int, int]]) -> None:
    """Coverage agrees with a plain set of byte offsets, however ranges arrive."""
    coverage = Coverage()
    covered: set[int] = set()
    for start, length in spans:
        coverage.add(start, start + length)
        covered.update(range(start, start + length))
    merged = coverage.spans()
    assert {b for start, end in merged for b in range(start, end)} == covered
    assert all(a[1] < b[0] for a, b in itertools.pairwise(merged)), "sorted and not touching"
    assert coverage.total() == len(covered)
    prefix = 0
    while prefix in covered:
        prefix += 1
    assert coverage.prefix() == prefix
    gaps = coverage.gaps(300)
    assert {b for s, e in gaps for b in range(s, e)} == set(range(300)) - covered


def test_dripping_ranges_are_restarted_by_the_stall_guard(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """Ranges that drip a few bytes a second are ended after `timeout` and resumed."""
    server.queue(PATH, Fault(), *[Fault(drip=(10, 0.05))] * 4)
    result = downloader.download(
        "big",
        "v1",
        download_url=url,
        checksum=f"sha256:{DIGEST}",
        options={**FOUR, "timeout": 1, "retry_count": 0},
    )
    assert Path(result.file_path).read_bytes() == BIG
    segments = (len(BIG) + SEGMENT_SIZE - 1) // SEGMENT_SIZE
    assert len(ranges(server)) >= segments + 4, "each dripping range was asked for again"


def test_the_threshold_is_configurable(downloader: Downloader, server: FileServer) -> None:
    """parallel_min_size lowers the size from which a file is split."""
    part = BIG[: SEGMENT_SIZE + 4 * 1024 * 1024]
    server.add_file("/mid.bin", part)
    options = {**FOUR, "parallel_min_size": SEGMENT_SIZE}
    result = downloader.download("mid", "v1", download_url=server.url("/mid.bin"), options=options)
    assert Path(result.file_path).read_bytes() == part
    asked = sorted(
        r.headers["range"] for r in server.requests_for("/mid.bin") if "range" in r.headers
    )
    assert asked == [f"bytes=0-{SEGMENT_SIZE - 1}", f"bytes={SEGMENT_SIZE}-{len(part) - 1}"]
