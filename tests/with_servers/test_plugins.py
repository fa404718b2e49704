"""Sources are plugins: the registry, entry points, the conformance kit and the example plugin."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_fetch import (
    Downloader,
    DownloadRequest,
    InvalidRequest,
    Plan,
    RemoteFile,
    UnknownSource,
    available_sources,
    register_source,
    sources,
)
from support.helpers import REPO
from support.server import FileServer

EXAMPLE = REPO / "examples" / "plugin-example"
sys.path.insert(0, str(EXAMPLE / "src"))
sys.path.insert(0, str(EXAMPLE / "tests"))

# The example plugin's own conformance suite runs here too, so a change to the kit or the
# plugin that breaks a plugin author's tests breaks ours.
from test_conformance import TestMirrorSource  # noqa: E402


class StaticSource:
    """A source that always plans one file at a fixed URL."""

    def __init__(self, context: object) -> None:
        self.context = context

    def plan(self, request: DownloadRequest) -> Plan:
        return Plan(
            files=[RemoteFile(url=os.environ["STATIC_URL"], path="static.bin")],
            version=request.version,
            download_url=os.environ["STATIC_URL"],
            source="static",
        )


def test_builtins_are_registered() -> None:
    """The built-in sources are available by name."""
    assert {"default", "huggingface", "local", "url"} <= set(available_sources())


def test_register_source_refuses_silent_override() -> None:
    """register_source refuses to replace a name unless clobber=True."""
    register_source("static-test", StaticSource)
    try:
        with pytest.raises(InvalidRequest, match="already registered"):
            register_source("static-test", StaticSource)
        register_source("static-test", StaticSource, clobber=True)
        with pytest.raises(InvalidRequest):
            register_source("url", StaticSource)
    finally:
        sources._registry.pop("static-test", None)


def test_registered_source_downloads_by_name(
    server: FileServer, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source registered at run time is used when a request names it."""
    server.add_file("/static.bin", b"static bytes")
    monkeypatch.setenv("STATIC_URL", server.url("/static.bin"))
    register_source("static-test", StaticSource, clobber=True)
    try:
        with Downloader(store=store) as dl:
            result = dl.download("thing", "v1", source="static-test")
        assert Path(result.file_path).read_bytes() == b"static bytes"
    finally:
        sources._registry.pop("static-test", None)


def test_unknown_source_lists_the_available_ones(store: Path) -> None:
    """An unknown source is a 400 that names the sources that exist."""
    with Downloader(store=store) as dl, pytest.raises(UnknownSource) as caught:
        dl.download("x", source="nope")
    assert caught.value.status_code == 400
    assert "url" in caught.value.available
    assert "default" in str(caught.value)


def test_download_url_overrides_the_source(server: FileServer, store: Path) -> None:
    """download_url wins whatever `source` says, as the contract states."""
    server.add_file("/m.bin", b"direct")
    with Downloader(store=store) as dl:
        result = dl.download("x", "v1", source="huggingface", download_url=server.url("/m.bin"))
    assert result.source == "url"


def test_entry_points_are_not_read_at_import() -> None:
    """Importing model_fetch reads no entry points; the first source lookup does."""
    code = (
        "import importlib.metadata as md\n"
        "calls = []\n"
        "real = md.entry_points\n"
        "md.entry_points = lambda **kw: calls.append(kw) or real(**kw)\n"
        "import model_fetch\n"
        "print(len(calls))\n"
        "model_fetch.available_sources()\n"
        "print(len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1"]


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, installed with pip into its own directory."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_installed_plugin_works_by_name(
    installed_plugin: Path, server: FileServer, store: Path
) -> None:
    """After `pip install`, the plugin's entry point makes `--source mirror` work from the CLI."""
    data = b"weights from the mirror" * 500
    server.add_file("/mirror/tiny/LATEST", b"v3\n")
    server.add_file("/mirror/tiny/v3.bin", data)
    server.add_file("/mirror/tiny/v3.bin.sha256", hashlib.sha256(data).hexdigest().encode())
    env = {
        **os.environ,
        "PYTHONPATH": str(installed_plugin),
        "MODEL_FETCH_HOME": str(store),
        "MIRROR_SOURCE_URL": server.url("/mirror"),
    }
    listed = subprocess.run(
        [sys.executable, "-c", "import model_fetch; print(model_fetch.available_sources())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mirror" in listed.stdout
    done = subprocess.run(
        [sys.executable, "-m", "model_fetch", "download", "tiny", "--source", "mirror", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["version"] == "v3"
    assert body["checksum_verified"] is True
    assert Path(body["file_path"]).read_bytes() == data


__all__ = ["TestMirrorSource"]
