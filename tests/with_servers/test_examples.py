"""The scripts in examples/ run (rest_client.py also runs from docs/serving.md's example)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from model_fetch import Downloader
from support.helpers import REPO

EXAMPLES = REPO / "examples"


def test_quickstart_installs_the_bundled_model(tmp_path: Path) -> None:
    """examples/quickstart.py downloads, verifies and installs tiny-mlp, and lists it."""
    store = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tiny-mlp" in done.stdout
    with Downloader(store=store) as downloader:
        info = downloader.info("tiny-mlp", version="v1")
    record = info.to_dict()
    assert record["ready_for_inference"] is True
    assert (
        Path(info.file_path).read_bytes()
        == (EXAMPLES / "models" / "tiny-mlp.safetensors").read_bytes()
    )
