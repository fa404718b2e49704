"""Quickstart: a real, verified download with no internet.

Serves the bundled ``models/tiny-mlp.safetensors`` from a web server on 127.0.0.1 that this
script starts, then downloads it with the ``model-fetch`` command (progress bar on a terminal),
verifies its sha256, installs it into the store and prints where it landed.

Run it with ``python examples/quickstart.py [--store DIR]``; the store defaults to
``$MODEL_FETCH_HOME``, else the user cache directory.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"
MODEL_FILE = "tiny-mlp.safetensors"
SHA256 = "b9d9ac9100556918379bbae09665b81fcce20d87fda10323947df6f5c6f043ec"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Keep the demo's output to what model-fetch prints."""


def main() -> int:
    """Serve the bundled model on loopback and download it with the CLI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store root (default: $MODEL_FETCH_HOME or the user cache)")
    args = parser.parse_args()

    handler = functools.partial(_QuietHandler, directory=str(MODELS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{MODEL_FILE}"
    store = ["--store", args.store] if args.store else []
    try:
        print(f"Serving the bundled model at {url}\n")
        command = [
            sys.executable,
            "-m",
            "model_fetch",
            *store,
            "download",
            "tiny-mlp",
            "--version",
            "v1",
            "--url",
            url,
            "--checksum",
            f"sha256:{SHA256}",
            "--if-exists",
            "reuse",
        ]
        print("$ model-fetch download tiny-mlp --version v1 --url URL --checksum sha256:...")
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            return done.returncode
        print("\n$ model-fetch list")
        return subprocess.run(
            [sys.executable, "-m", "model_fetch", *store, "list"], check=False
        ).returncode
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
