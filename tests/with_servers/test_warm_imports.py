"""A fresh process loads what the install step needs while the bytes arrive, not after them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.model_files import write_safetensors
from support.server import Fault, FileServer

SRC = Path(__file__).resolve().parents[2] / "src"
# The first progress report with bytes still to come waits for the warm-up thread (if any) and
# notes what is loaded; the server drips the file, so the transfer is still under way then.
CHILD = """
import json, sys, threading
from model_fetch import Downloader

seen = {}

def progress(p):
    if seen or p.current_stage != "downloading" or not 0 < p.downloaded_bytes < p.total_bytes:
        return
    for thread in threading.enumerate():
        if thread.name == "model_fetch-warm":
            thread.join()
    seen["pending"] = p.total_bytes - p.downloaded_bytes
    seen["loaded"] = sorted(m for m in sys.argv[3:] if m in sys.modules)

with Downloader(store=sys.argv[1]) as dl:
    result = dl.download("m", "v1", download_url=sys.argv[2], progress=progress,
                         options={"chunk_size": 8192})
seen["ready"] = result.ready_for_inference
print(json.dumps(seen))
"""
MODULES = ("model_fetch.install", "model_fetch.install.signing", "safetensors", "numpy")


def test_install_modules_load_during_the_transfer(server: FileServer, tmp_path: Path) -> None:
    """The checks, signing, safetensors and numpy are imported before the last byte arrives."""
    data = write_safetensors(tmp_path / "w.safetensors", tensors=1000).read_bytes()
    server.add_file("/w.safetensors", data)
    server.queue("/w.safetensors", Fault(drip=(8192, 0.005)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    url = server.url("/w.safetensors")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "store"), url, *MODULES],
        capture_output=True, text=True, check=True, env=env, timeout=120,
    )  # fmt: skip
    seen = json.loads(out.stdout)
    assert seen["pending"] > 0, "observed while the transfer was under way"
    assert seen["loaded"] == sorted(MODULES)
    assert seen["ready"] is True
