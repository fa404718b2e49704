"""The inventory's rules, from the library: remove with cancel-and-wait, and the merged listing.

The REST routes and the CLI call these same methods, so what holds here holds at both doors.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

import pytest

from model_fetch import (
    DownloadCancelled,
    Downloader,
    DownloadInProgress,
    InstalledModel,
    ModelNotFound,
)
from model_fetch.cli._commands import list_models
from support.helpers import payload
from support.server import Fault, FileServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DATA = payload(400_000, seed=21)


@pytest.fixture
def dl(store: Path) -> Iterator[Downloader]:
    with Downloader(store=store) as downloader:
        yield downloader


@pytest.fixture
def stalled_url(server: FileServer) -> str:
    """A URL whose download stalls after a few bytes until it is cancelled."""
    server.add_file("/stall.bin", payload(1_000_000, seed=22))
    server.queue("/stall.bin", Fault(stall_after=100_000))
    return server.url("/stall.bin")


def test_remove_refuses_a_model_being_downloaded(
    dl: Downloader, server: FileServer, stalled_url: str
) -> None:
    """remove() without force is 409 while this downloader downloads the model; nothing goes."""
    server.add_file("/m.bin", DATA)
    dl.download("m", "v1", download_url=server.url("/m.bin"))
    job = dl.submit("m", "v2", download_url=stalled_url, options={"timeout": 60})
    with pytest.raises(DownloadInProgress) as refused:
        dl.remove("m")
    assert refused.value.status_code == 409
    assert [model.version for model in dl.list_models()] == ["v1"]
    assert not job.done
    removed = dl.remove("m", "v1")  # no download of v1 runs: removed at once
    assert removed.removed_versions == ("v1",)
    assert not job.done
    job.cancel()


def test_forced_remove_cancels_waits_and_removes(
    dl: Downloader, server: FileServer, stalled_url: str
) -> None:
    """remove(force=True) cancels the model's downloads, waits for them to stop, then removes."""
    server.add_file("/m.bin", DATA)
    dl.download("m", "v1", download_url=server.url("/m.bin"))
    job = dl.submit("m", "v2", download_url=stalled_url, options={"timeout": 60})
    result = dl.remove("m", force=True)
    assert job.status == "cancelled"
    with pytest.raises(DownloadCancelled):
        job.result(0)
    assert result.removed_versions == ("v1",)
    assert dl.list_models() == []
    assert dl.models_and_jobs() == [], "a cancelled download is neither installed nor listed"


def test_listing_merges_installed_running_and_failed(
    dl: Downloader, server: FileServer, stalled_url: str
) -> None:
    """models_and_jobs(): installed, then downloads in flight, then failures not installed."""
    server.add_file("/m.bin", DATA)
    dl.download("m", "v1", download_url=server.url("/m.bin"))
    missing = dl.submit("gone", "v1", download_url=server.url("/missing.bin"))
    refreshed = dl.submit("m", "v1", download_url=server.url("/missing.bin"), force_download=True)
    for failed in (missing, refreshed):
        with pytest.raises(ModelNotFound):
            failed.result(30)
    running = dl.submit("big", "v1", download_url=stalled_url, options={"timeout": 60})
    entries = dl.models_and_jobs()
    assert isinstance(entries[0], InstalledModel)
    assert (entries[0].name, entries[0].version) == ("m", "v1")
    assert entries[1:] == [missing, running], "a failed refresh of an installed version is hidden"
    assert [entry.listing_entry().status for entry in entries[1:]] == ["failed", "loading"]
    running.cancel()


def test_cli_list_shows_the_same_listing(
    dl: Downloader, server: FileServer, stalled_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`model-fetch list --json` renders the same merged listing as GET /models."""
    server.add_file("/m.bin", DATA)
    dl.download("m", "v1", download_url=server.url("/m.bin"))
    running = dl.submit("big", "v1", download_url=stalled_url, options={"timeout": 60})
    assert list_models(dl, argparse.Namespace(json=True)) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["total"] == 2
    assert [(m["name"], m["status"]) for m in body["models"]] == [
        ("m", "available"),
        ("big", "loading"),
    ]
    assert body["models"][1]["download_id"] == running.download_id
    assert list_models(dl, argparse.Namespace(json=False)) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[-1].split() == ["big", "v1", "-", "-", "loading", "-"]
    running.cancel()
