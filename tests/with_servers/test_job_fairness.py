"""Slow origins cannot hold every worker: each host gets at most half of the slots."""

from __future__ import annotations

from pathlib import Path

from model_fetch import Downloader
from support.helpers import payload
from support.server import Fault, FileServer

DATA = payload(200_000, seed=5)
#: Generous: only a download stuck behind the stalled ones waits this long.
PATIENCE = 20.0


def test_a_stalled_host_leaves_slots_for_another(store: Path, server: FileServer) -> None:
    """With two workers, two stalled downloads from one host do not queue a third host's."""
    for name in ("a", "b"):
        server.add_file(f"/{name}.bin", DATA)
        server.queue(f"/{name}.bin", Fault(stall_after=1000))
    with FileServer().start() as other, Downloader(store=store, max_concurrent_downloads=2) as dl:
        other.add_file("/c.bin", DATA)
        slow = [
            dl.submit(name, "v1", download_url=server.url(f"/{name}.bin"), options={"timeout": 60})
            for name in ("a", "b")
        ]
        fast = dl.submit("c", "v1", download_url=other.url("/c.bin"))
        assert fast.wait(PATIENCE), "the other host's download was not held up"
        assert fast.status == "completed"
        assert [job.done for job in slow] == [False, False]
        assert slow[1].status == "started", "the stalled host's second job waits for its share"
        for job in slow:
            job.cancel()


def test_one_host_alone_still_uses_its_share(store: Path, server: FileServer) -> None:
    """Jobs of one host run their share at once; the rest start as those finish."""
    for name in ("a", "b", "c"):
        server.add_file(f"/{name}.bin", DATA)
    with Downloader(store=store, max_concurrent_downloads=2) as dl:
        jobs = [dl.submit(name, "v1", download_url=server.url(f"/{name}.bin")) for name in "abc"]
        for job in jobs:
            assert job.wait(PATIENCE)
            assert job.status == "completed"
