"""A slow origin is bounded: a minimum sustained rate per attempt and a deadline per file."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_fetch import Downloader, DownloadFailed, DownloadOptions, RemoteFile
from model_fetch.exceptions import InvalidRequest
from model_fetch.transfer import HttpClient, Transfer
from support.helpers import FakeClock, payload
from support.server import FileServer

#: Smaller than one rate window's worth at the default 1 KiB/s (30 KiB), read however it arrives.
DATA = payload(20_000, seed=9)


def _fetch(server: FileServer, tmp_path: Path, clock: FakeClock, **options: object) -> None:
    """Fetch DATA; every buffer that arrives moves the fake clock 1000 s on."""
    server.add_file("/slow.bin", DATA)
    http = HttpClient(environ={})
    try:
        Transfer(http, clock).fetch(
            RemoteFile(url=server.url("/slow.bin"), path="slow.bin"),
            str(tmp_path / "slow.bin"),
            DownloadOptions(**options),
            on_size=lambda _: None,
            on_position=lambda _: clock.sleep(1000),
            reserve=lambda _: None,
        )
    finally:
        http.close()


def test_an_origin_under_min_rate_fails_after_its_retries(
    server: FileServer, tmp_path: Path, clock: FakeClock
) -> None:
    """Bytes arriving slower than min_rate end each attempt; the retries run out (500)."""
    with pytest.raises(DownloadFailed, match="too slow") as failed:
        _fetch(server, tmp_path, clock, retry_count=2)
    # A retry that got further (a resume) resets the budget, so more than three may run.
    assert (failed.value.attempts or 0) >= 3


def test_a_deadline_ends_the_whole_transfer(
    server: FileServer, tmp_path: Path, clock: FakeClock
) -> None:
    """Past options.deadline the file fails at once, however many retries remain."""
    with pytest.raises(DownloadFailed, match="deadline of 500 s") as failed:
        _fetch(server, tmp_path, clock, deadline=500, min_rate=1, retry_count=10)
    assert failed.value.attempts == 1


def test_a_fast_enough_origin_is_untouched(
    server: FileServer, tmp_path: Path, clock: FakeClock
) -> None:
    """A transfer over min_rate and within its deadline completes as before."""
    server.add_file("/fast.bin", DATA)
    http = HttpClient(environ={})
    try:
        outcome = Transfer(http, clock).fetch(
            RemoteFile(url=server.url("/fast.bin"), path="fast.bin"),
            str(tmp_path / "fast.bin"),
            DownloadOptions(),
            on_size=lambda _: None,
            on_position=lambda _: None,
            reserve=lambda _: None,
        )
    finally:
        http.close()
    assert outcome.size == len(DATA)


@pytest.mark.parametrize(
    "options",
    [{"deadline": 0}, {"deadline": 86401}, {"min_rate": 0}, {"min_rate": (1 << 30) + 1}],
)
def test_pace_options_are_capped(options: dict[str, object]) -> None:
    """The deadline is above 0 and at most a day; min_rate is 1 B/s to 1 GiB/s (400 over REST)."""
    with pytest.raises(InvalidRequest):
        DownloadOptions(**options)


def test_a_file_of_unknown_size_stops_at_the_servers_limit(
    store: Path, server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MODEL_FETCH_MAX_UNKNOWN_SIZE, a body without Content-Length past it fails (500)."""
    server.add_file("/endless.bin", payload(300_000, seed=2), content_length=False)
    server.add_file("/small.bin", payload(50_000, seed=3), content_length=False)
    monkeypatch.setenv("MODEL_FETCH_MAX_UNKNOWN_SIZE", "100KiB")
    with Downloader(store=store) as dl:
        with pytest.raises(DownloadFailed, match="limit for a file of unknown size"):
            dl.download("big", "v1", download_url=server.url("/endless.bin"))
        dl.download("small", "v1", download_url=server.url("/small.bin"))
