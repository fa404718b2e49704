"""The 413 of a full store names the true figures: what the download needs, what is free for it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from model_fetch import Downloader, InsufficientStorage
from support.helpers import payload
from support.server import FileServer

INSTALLED = payload(100_000, seed=21)


def _fails(downloader: Downloader, url: str, **options: object) -> InsufficientStorage:
    with pytest.raises(InsufficientStorage) as caught:
        downloader.download("big", "v1", download_url=url, options=options or None)
    return caught.value


def test_figures_that_round_alike_are_given_in_bytes(store: Path, server: FileServer) -> None:
    """140 000 bytes free, 145 000 needed: never "Required: 0.1MB, Available: 0.1MB"."""
    server.add_file("/small.bin", INSTALLED)
    server.add_file("/big.bin", payload(145_000, seed=22))
    with Downloader(store=store, max_store_bytes=240_000) as downloader:
        downloader.download("small", "v1", download_url=server.url("/small.bin"))
        error = _fails(downloader, server.url("/big.bin"))
    assert (error.required_bytes, error.available_bytes) == (145_000, 140_000)
    assert "Required: 145000 bytes, Available: 140000 bytes" in str(error)


def test_a_stream_of_unknown_length_is_measured_against_the_space_free_at_its_start(
    store: Path, server: FileServer
) -> None:
    """A stream with no Content-Length over the quota: Available is what was free when it began."""
    server.add_file("/small.bin", INSTALLED)
    server.add_file(
        "/stream.bin", payload(200_000, seed=23), content_length=False, accept_ranges=False
    )
    with Downloader(store=store, max_store_bytes=250_000) as downloader:
        downloader.download("small", "v1", download_url=server.url("/small.bin"))
        error = _fails(downloader, server.url("/stream.bin"), chunk_size=1024)
    assert error.available_bytes == 150_000
    assert error.required_bytes is not None
    assert error.required_bytes > 150_000
    assert "Available: 0.1MB" in str(error)


def test_an_archive_that_unpacks_over_the_quota_names_its_own_size(
    store: Path, server: FileServer
) -> None:
    """An archive unpacking past the quota: Required is its unpacked size, Available the rest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("weights.bin")
        member.size = 250_000
        archive.addfile(member, io.BytesIO(b"\0" * member.size))
    server.add_file("/small.bin", INSTALLED)
    server.add_file("/model.tar.gz", buffer.getvalue())
    with Downloader(store=store, max_store_bytes=300_000) as downloader:
        downloader.download("small", "v1", download_url=server.url("/small.bin"))
        error = _fails(downloader, server.url("/model.tar.gz"), extract_after_download=True)
        assert [m.name for m in downloader.list_models()] == ["small"]
    assert (error.required_bytes, error.available_bytes) == (250_000, 200_000)
    assert "Required: 250000 bytes, Available: 200000 bytes" in str(error)


def test_a_refused_download_leaves_no_reserved_space_behind(
    store: Path, server: FileServer
) -> None:
    """A 413 once the size is known keeps no preallocated partial: the next small model fits."""
    server.add_file("/large.bin", payload(200_000, seed=24))
    server.add_file("/small.bin", INSTALLED)
    with Downloader(store=store, max_store_bytes=150_000) as downloader:
        error = _fails(downloader, server.url("/large.bin"))
        assert (error.required_bytes, error.available_bytes) == (200_000, 150_000)
        assert downloader.cache_info().download_bytes == 0
        downloader.download("small", "v1", download_url=server.url("/small.bin"))
