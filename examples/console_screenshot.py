"""Regenerate docs/images/console.png: the web console with a download in progress.

Needs the test dependencies (Playwright) and Debian's Chromium (``apt-get install chromium``);
everything runs on 127.0.0.1: a file server from the test suite, ``model-fetch serve`` in a
subprocess with a temporary store, and the browser.

    python examples/console_screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.browser import PageWatch, launch
from support.helpers import payload
from support.rest import start_rest
from support.server import Fault, FileServer

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def safetensors_bytes(values: int) -> bytes:
    """A valid safetensors file holding ``values`` float32 numbers."""
    header = {"weight": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + bytes(4 * values)


def main(output: Path) -> None:
    """Install two models, start a slow third one, and photograph the console."""
    with tempfile.TemporaryDirectory() as tmp, FileServer().start() as files:
        root = Path(tmp)
        files.add_file("/bert-mini.safetensors", safetensors_bytes(11 * MIB // 4))
        files.add_file("/resnet18.pth", payload(45 * MIB, seed=2))
        files.add_file("/llama-tiny.gguf", payload(60 * MIB, seed=3), accept_ranges=False)
        files.queue("/llama-tiny.gguf", Fault(drip=(256 * 1024, 0.1)))
        rest = start_rest(root, root / "store", "serve")
        try:
            installed = {"bert-mini": "/bert-mini.safetensors", "resnet18": "/resnet18.pth"}
            for name, path in installed.items():
                body = {"model_name": name, "version": "v1.0", "download_url": files.url(path)}
                requests.post(f"{rest.url}/model-download?wait=60", json=body, timeout=70)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                context = browser.new_context(viewport={"width": 1100, "height": 900})
                PageWatch(context)
                page = context.new_page()
                page.goto(rest.url + "/")
                page.get_by_label("Model name", exact=True).fill("llama-tiny")
                page.get_by_label("Version", exact=True).fill("q4")
                page.get_by_label("Download URL", exact=True).fill(files.url("/llama-tiny.gguf"))
                page.get_by_role("button", name="Download", exact=True).click()
                expect(page.get_by_role("button", name="Cancel llama-tiny q4")).to_be_enabled()
                time.sleep(6)
                page.screenshot(path=str(output), full_page=True)
                browser.close()
        finally:
            rest.stop()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "console.png")
