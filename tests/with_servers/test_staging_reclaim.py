"""Staging left by a process killed mid-extraction is reclaimed; a live one is never touched."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import model_fetch
from model_fetch import Downloader
from support.helpers import payload

MEMBERS = {"weights.bin": payload(300_000, seed=31), "config.json": b'{"layers": 2}'}

#: The child downloads and unpacks the archive, says "extracted" once the archive is unpacked into
#: its scratch directory, then blocks on stdin until it is killed.
CHILD = """
import sys
import model_fetch.install._step as step
from model_fetch import Downloader

real = step.extract

def held(archive, dest, *, kind):
    out = real(archive, dest, kind=kind)
    print("extracted", flush=True)
    sys.stdin.readline()
    return out

step.extract = held
with Downloader(store=sys.argv[1], local_registry=sys.argv[2]) as downloader:
    downloader.download("packed", "v1", source="local", options={"extract_after_download": True})
"""


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    (root / "packed" / "v1").mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in MEMBERS.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    (root / "packed" / "v1" / "model.tar").write_bytes(buffer.getvalue())
    return root


@pytest.fixture(params=["plain", "hf-cache"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A plain store, and the hf-cache layout (its staging is under .locks/model_fetch/)."""
    path = tmp_path / "store"
    return str(path) if request.param == "plain" else f"hf-cache:{path}"


def _staging_entries(store_url: str) -> list[str]:
    root = Path(store_url.removeprefix("hf-cache:"))
    return sorted(
        path.name
        for path in root.rglob("*")
        if path.parent.name in {".staging", "staging"}
        and path.name.startswith(("stage-", "extract-"))
    )


def size_of_members() -> int:
    return sum(len(data) for data in MEMBERS.values())


class Extractor:
    """A child process downloading the archive; it stops, alive, once it is unpacked in staging."""

    def __init__(self, store_url: str, registry: Path, errors: Path) -> None:
        """Start the child and wait for its "extracted" (no timing involved)."""
        src = Path(model_fetch.__file__).resolve().parents[1]
        self.errors = errors
        with errors.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-c", CHILD, store_url, str(registry)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                env={**os.environ, "PYTHONPATH": str(src)},
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line == b"extracted\n", errors.read_text()

    def kill9(self) -> None:
        """SIGKILL: nothing of the child's cleanup runs."""
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait() == -signal.SIGKILL

    def close(self) -> None:
        """Kill the child if a test failed before it did; close the pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def extractor(store_url: str, registry: Path, tmp_path: Path) -> Iterator[Extractor]:
    running = Extractor(store_url, registry, tmp_path / "child.err")
    try:
        yield running
    finally:
        running.close()


def test_cache_prune_keeps_live_staging_and_reclaims_a_killed_ones(
    store_url: str, registry: Path, extractor: Extractor
) -> None:
    """cache-prune frees the staging of a process killed mid-extraction, never a live one's."""
    before = _staging_entries(store_url)
    assert any("extract-" in name for name in before), before  # the archive's scratch
    with Downloader(store=store_url, local_registry=registry) as downloader:
        assert downloader.prune_partials() == (0, 0)
        assert downloader.cache_info().download_entries == 1
    assert _staging_entries(store_url) == before

    extractor.kill9()
    with Downloader(store=store_url, local_registry=registry) as downloader:
        count, freed = downloader.prune_partials()
        assert count == 1
        assert freed >= 2 * size_of_members()  # the archive and what it unpacked
        assert downloader.prune_partials() == (0, 0)
    assert _staging_entries(store_url) == []


def test_the_next_run_reclaims_a_killed_ones_staging_and_cache_info_stops_counting_it(
    store_url: str, registry: Path, extractor: Extractor
) -> None:
    """After kill -9 mid-extraction, cache-info counts no download and a rerun leaves no staging."""
    extractor.kill9()
    with Downloader(store=store_url, local_registry=registry) as downloader:
        info = downloader.cache_info()
        assert (info.download_entries, info.download_bytes) == (0, 0)
    assert _staging_entries(store_url) == []
    again = Extractor(store_url, registry, extractor.errors)
    try:
        again.kill9()
        assert _staging_entries(store_url) != []
        with Downloader(store=store_url, local_registry=registry) as downloader:
            result = downloader.download(
                "packed", "v1", source="local", options={"extract_after_download": True}
            )
            assert size_of_members() == result.size_bytes
            assert not result.reused
            assert downloader.cache_info().download_bytes == 0
    finally:
        again.close()
    assert _staging_entries(store_url) == []
