"""Resumable downloads: Range + If-Range, never a splice, partials that survive a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_fetch import Downloader, DownloadFailed
from model_fetch.transfer._ranges import parse_content_range, usable_validator
from support.helpers import payload, sha256
from support.server import Fault, FileServer

DATA = payload(3_000_000, seed=51)
PATH = "/big.bin"


@pytest.fixture
def url(server: FileServer) -> str:
    server.add_file(PATH, DATA)
    return server.url(PATH)


def test_reset_at_half_resumes_with_range(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A reset halfway resumes with Range and If-Range: one extra request, not a full restart."""
    server.queue(PATH, Fault(drop_after=1_500_000, reset=True))
    result = downloader.download("m", "v1", download_url=url, checksum=sha256(DATA))
    assert Path(result.file_path).read_bytes() == DATA
    first, second = server.requests_for(PATH)
    assert "range" not in first.headers
    start = int(second.headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 1_500_000
    assert second.headers["if-range"].startswith('"')


def test_range_ignored_restarts_from_zero(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A server that answers a resume with 200 makes the download start again, correctly."""
    server.queue(PATH, Fault(drop_after=1_000_000), Fault(ignore_range=True))
    result = downloader.download("m", "v1", download_url=url, checksum=sha256(DATA))
    assert Path(result.file_path).read_bytes() == DATA
    assert len(server.requests_for(PATH)) == 2


def test_changed_etag_restarts(downloader: Downloader, server: FileServer, url: str) -> None:
    """If the file changed between attempts (If-Range fails), the new file is fetched whole."""
    server.queue(PATH, Fault(drop_after=1_000_000))
    new = payload(3_000_000, seed=52)

    def swap(_: object) -> None:
        if len(server.requests_for(PATH)) == 1:
            server.add_file(PATH, new)

    result = downloader.download("m", "v1", download_url=url, progress=swap)
    assert Path(result.file_path).read_bytes() == new
    assert len(server.requests_for(PATH)) == 2


def test_wrong_content_range_is_never_spliced(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """A 206 that starts elsewhere than asked is refused and the download starts again."""
    server.queue(PATH, Fault(drop_after=1_000_000), Fault(bad_content_range_start=7))
    result = downloader.download("m", "v1", download_url=url, checksum=sha256(DATA))
    assert Path(result.file_path).read_bytes() == DATA
    third = server.requests_for(PATH)[2]
    assert "range" not in third.headers, "after a bad range, the next attempt starts from zero"


def test_progress_resets_the_retry_budget(
    downloader: Downloader, server: FileServer, url: str
) -> None:
    """Drops that each get further do not exhaust retry_count; the same drop twice does."""
    server.queue(PATH, *[Fault(drop_after=500_000)] * 4)
    result = downloader.download(
        "m", "v1", download_url=url, checksum=sha256(DATA), options={"retry_count": 1}
    )
    assert Path(result.file_path).read_bytes() == DATA
    assert len(server.requests_for(PATH)) == 5


def test_failed_download_keeps_a_resumable_partial(
    store: Path, server: FileServer, url: str
) -> None:
    """A download that fails keeps its partial; cache-info counts it; the next call resumes."""
    server.queue(PATH, Fault(drop_after=2_000_000), Fault(status=503))
    with Downloader(store=store) as dl:
        with pytest.raises(DownloadFailed):
            dl.download("m", "v1", download_url=url, options={"retry_count": 1})
        assert dl.list_models() == []
        info = dl.cache_info().to_dict()["download_cache"]
        assert info["partial_downloads"] == 1
        server.reset_requests()
        result = dl.download("m", "v1", download_url=url, checksum=sha256(DATA))
    assert Path(result.file_path).read_bytes() == DATA
    (only,) = server.requests_for(PATH)
    assert only.headers["range"].startswith("bytes=")
    assert Downloader(store=store).cache_info().partial_downloads == 0


def test_cache_prune(store: Path, server: FileServer, url: str) -> None:
    """`cache-prune` deletes kept partials; --older-than spares recent ones."""
    server.queue(PATH, Fault(drop_after=1_000_000), Fault(status=404))
    with Downloader(store=store) as dl, pytest.raises(Exception):  # noqa: B017, PT011
        dl.download("m", "v1", download_url=url, options={"retry_count": 1})
    env = {**os.environ, "MODEL_FETCH_HOME": str(store)}
    spared = subprocess.run(
        [sys.executable, "-m", "model_fetch", "cache-prune", "--older-than", "1d", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(spared.stdout)["removed_partial_downloads"] == 0
    pruned = subprocess.run(
        [sys.executable, "-m", "model_fetch", "cache-prune", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(pruned.stdout)["removed_partial_downloads"] == 1
    assert Downloader(store=store).cache_info().partial_downloads == 0


def test_sigkill_then_rerun_resumes(store: Path, server: FileServer, url: str) -> None:
    """A killed download process leaves a partial; the rerun resumes, verifies, and installs."""
    big = payload(20 * 1024 * 1024, seed=53)
    server.add_file("/killme.bin", big)
    # 4 MB/s: the writer records durable progress every second, and the kill lands mid-way.
    server.queue("/killme.bin", Fault(drip=(200_000, 0.05)))
    env = {**os.environ, "MODEL_FETCH_HOME": str(store)}
    target = server.url("/killme.bin")
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_fetch", "download", "k", "--url", target],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    partials = store / ".partials"
    while time.monotonic() < deadline:
        sidecars = list(partials.glob("*.json")) if partials.exists() else []
        if sidecars and json.loads(sidecars[0].read_text())["completed"] > 0:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("no durable progress was recorded")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    kept = json.loads(next(partials.glob("*.json")).read_text())["completed"]
    server.reset_requests()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "model_fetch",
            "download",
            "k",
            "--url",
            target,
            "--checksum",
            sha256(big),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert Path(json.loads(done.stdout)["file_path"]).read_bytes() == big
    (resumed,) = server.requests_for("/killme.bin")
    assert resumed.headers["range"] == f"bytes={kept}-"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes 0-99/1000", (0, 99, 1000)),
        ("bytes 500-999/*", (500, 999, None)),
        ("bytes 10-5/100", None),
        ("bytes 0-1000/1000", None),
        ("items 0-1/2", None),
        (None, None),
    ],
)
def test_content_range_parsing(header: str | None, expected: tuple | None) -> None:
    """Content-Range is parsed strictly; anything odd is refused."""
    parsed = parse_content_range(header)
    assert (None if parsed is None else (parsed.start, parsed.end, parsed.total)) == expected


def test_weak_etags_are_not_validators() -> None:
    """Only a strong ETag (or Last-Modified) may guard a resume."""
    assert usable_validator('W/"abc"', None) is None
    assert usable_validator('W/"abc"', "Wed, 21 Oct 2015 07:28:00 GMT").startswith("Wed")
    assert usable_validator('"abc"', None) == '"abc"'
