"""A hf-cache install stopped at any step leaves a cache both libraries can trust, and resumes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import model_fetch.storage._hfcache as hfcache
from model_fetch import Downloader
from support.helpers import payload
from support.hfhub import HubFile, TestHub

REPO = "acme/crash"
FILES = [
    HubFile(path="config.json", data=b'{"a": 1}'),
    HubFile(path="sub/vocab.txt", data=b"x\ny\n"),
    HubFile(path="model.safetensors", data=payload(50_000, seed=7), lfs=True),
]


class Crash(Exception):
    """Stands for the process dying: nothing in the commit catches it."""


class CrashingOs:
    """``os`` for the hf-cache backend, failing at its ``at``-th rename or symlink."""

    def __init__(self, at: int) -> None:
        """Fail at call number ``at`` (0: never; the calls are counted)."""
        self.at, self.calls = at, 0

    def __getattr__(self, name: str) -> Any:
        """Everything else is the real ``os``."""
        return getattr(os, name)

    def _step(self) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise Crash(self.calls)

    def replace(self, src: str, dst: str) -> None:
        """A rename that may be the crash."""
        self._step()
        os.replace(src, dst)

    def symlink(self, src: str, dst: str) -> None:
        """A symlink that may be the crash."""
        self._step()
        os.symlink(src, dst)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHub]:
    with TestHub().start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


def check_cache(cache: Path) -> None:
    """What huggingface_hub relies on: every link resolves, every ref names a snapshot."""
    repo = cache / "models--acme--crash"
    data = {f.path: f.data for f in FILES}
    for path in (repo / "snapshots").rglob("*"):
        if path.is_symlink() or path.is_file():
            rel = path.relative_to(repo / "snapshots").as_posix().split("/", 1)[1]
            assert path.read_bytes() == data[rel], path
            assert not path.name.endswith((".tmp", ".link")), path
    for ref in (repo / "refs").rglob("*") if (repo / "refs").exists() else ():
        if ref.is_file():
            assert (repo / "snapshots" / ref.read_text()).is_dir(), ref


@pytest.mark.slow
def test_a_crash_at_any_commit_step(
    hub: TestHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the record: not installed, the cache consistent; after a retry: installed, intact."""
    hub.add_repo(REPO, FILES)
    counter = CrashingOs(at=0)
    monkeypatch.setattr(hfcache, "os", counter)
    with Downloader(store=f"hf-cache:{tmp_path / 'probe'}") as downloader:
        downloader.download(REPO, source="huggingface")
    steps = counter.calls
    assert steps >= 2 * len(FILES) + 1  # a blob and a link per file, then the record
    for at in range(1, steps + 1):
        cache = tmp_path / f"crash-{at}"
        monkeypatch.setattr(hfcache, "os", CrashingOs(at))
        with Downloader(store=f"hf-cache:{cache}") as downloader, pytest.raises(Crash):
            downloader.download(REPO, source="huggingface")
        monkeypatch.setattr(hfcache, "os", os)
        check_cache(cache)
        with Downloader(store=f"hf-cache:{cache}") as downloader:
            # No record: what is there counts as a partial download at most (adopted snapshot).
            assert not list(cache.rglob("install.json"))
            result = downloader.download(REPO, source="huggingface")
            assert downloader.verify(REPO, result.version).ok
        check_cache(cache)
