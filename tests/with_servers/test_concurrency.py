"""Concurrent downloads of one version: one transfer, shared results, atomic replacement."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from model_fetch import Downloader, InstallResult
from support.helpers import payload, sha256
from support.server import Fault, FileServer

DATA = payload(2_000_000)

CHILD = """
import json, sys
from model_fetch import Downloader
with Downloader(store=sys.argv[1]) as d:
    r = d.download(
        "shared", "v1", download_url=sys.argv[2], checksum=sys.argv[3], if_exists="error"
    )
print(json.dumps({"file_path": r.file_path, "reused": r.reused}))
"""


def test_two_processes_make_one_transfer(server: FileServer, store: Path) -> None:
    """Two processes downloading the same version make one transfer and both get the result."""
    server.add_file("/m.bin", DATA)
    # Drip the one transfer so the second process surely arrives while it runs.
    server.queue("/m.bin", Fault(drip=(200_000, 0.05)))
    args = [sys.executable, "-c", CHILD, str(store), server.url("/m.bin"), sha256(DATA)]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    results = [__import__("json").loads(out) for out, _ in outputs]
    assert results[0]["file_path"] == results[1]["file_path"]
    assert sorted(r["reused"] for r in results) == [False, True], (
        "a waiter is never refused with 409"
    )
    assert len(server.requests_for("/m.bin")) == 1
    assert Path(results[0]["file_path"]).read_bytes() == DATA


def test_threads_share_one_transfer(server: FileServer, store: Path) -> None:
    """Threads of one Downloader racing for the same version make a single transfer."""
    server.add_file("/m.bin", DATA)
    server.queue("/m.bin", Fault(drip=(200_000, 0.02)))
    results: list[InstallResult] = []
    with Downloader(store=store) as downloader:

        def work() -> None:
            results.append(downloader.download("shared", "v1", download_url=server.url("/m.bin")))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert len(results) == 4
    assert len({r.file_path for r in results}) == 1
    assert len(server.requests_for("/m.bin")) == 1


def test_force_download_never_mixes_files(server: FileServer, store: Path) -> None:
    """While a forced download replaces a version, readers see the old files or the new, whole."""
    old, new = payload(500_000, seed=1), payload(500_000, seed=2)
    server.add_file("/m.bin", old)
    stop = threading.Event()
    seen: set[str] = set()
    errors: list[str] = []
    with Downloader(store=store) as downloader:
        downloader.download("m", "v1", download_url=server.url("/m.bin"))
        server.add_file("/m.bin", new)

        def reader() -> None:
            with Downloader(store=store) as own:
                while not stop.is_set():
                    info = own.info("m", "v1")
                    try:
                        data = Path(info.file_path).read_bytes()
                    except FileNotFoundError:
                        continue  # an old generation removed after the switch; re-read the record
                    digest = sha256(data)
                    if digest not in {sha256(old), sha256(new)}:
                        errors.append(digest)
                    seen.add(digest)

        thread = threading.Thread(target=reader)
        thread.start()
        for _ in range(5):
            server.add_file("/m.bin", new)
            downloader.download("m", "v1", download_url=server.url("/m.bin"), force_download=True)
            server.add_file("/m.bin", old)
            downloader.download("m", "v1", download_url=server.url("/m.bin"), force_download=True)
        stop.set()
        thread.join(10)
    assert errors == []
    assert seen, "the reader read something"
