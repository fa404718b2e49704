"""The model-fetch command end to end, in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.helpers import payload, sha256
from support.server import Fault, FileServer

DATA = payload(150_000)


def run(store: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODEL_FETCH_HOME": str(store)}
    return subprocess.run(
        [sys.executable, "-m", "model_fetch", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
    )


@pytest.fixture
def url(server: FileServer) -> str:
    server.add_file("/tiny.pth", DATA)
    return server.url("/tiny.pth")


def test_download_list_info_cache_remove(store: Path, url: str) -> None:
    """The whole lifecycle works from the command line with contract-shaped JSON."""
    done = run(
        store,
        "download",
        "tiny",
        "--version",
        "v1",
        "--url",
        url,
        "--checksum",
        f"sha256:{sha256(DATA)}",
        "--json",
        "--metadata",
        '{"k": "v"}',
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "completed"
    assert body["checksum_verified"] is True
    assert Path(body["file_path"]).read_bytes() == DATA
    assert done.stderr == "", "no progress bar when stderr is not a terminal"

    listed = json.loads(run(store, "list", "--json").stdout)
    assert listed["total"] == 1
    assert listed["models"][0]["name"] == "tiny"

    info = json.loads(run(store, "info", "tiny", "--json").stdout)
    assert info["metadata"] == {"k": "v"}
    assert info["files"][0]["sha256"] == sha256(DATA)

    human = run(store, "info", "tiny")
    assert "tiny_v1" in human.stdout

    cache = json.loads(run(store, "cache-info", "--json").stdout)
    assert cache["model_cache"]["entry_count"] == 1

    refused = run(store, "remove", "tiny")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr

    removed = run(store, "remove", "tiny", "--yes", "--json")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout)["status"] == "completely_removed"
    assert json.loads(run(store, "list", "--json").stdout)["total"] == 0


@pytest.mark.slow
def test_exit_codes(store: Path, server: FileServer, url: str) -> None:
    """Each failure has its documented exit code and a one-line error with no traceback."""
    assert run(store, "download", "tiny", "--version", "v1", "--url", url).returncode == 0
    exists = run(store, "download", "tiny", "--version", "v1", "--url", url)
    assert exists.returncode == 4
    reuse = run(store, "download", "tiny", "--version", "v1", "--url", url, "--if-exists", "reuse")
    assert reuse.returncode == 0
    assert "Already installed" in reuse.stdout

    bad_name = run(store, "download", "../evil", "--url", url)
    assert bad_name.returncode == 2
    assert bad_name.stderr.count("\n") == 1
    assert "Traceback" not in bad_name.stderr

    unknown = run(store, "download", "x", "--source", "nope")
    assert unknown.returncode == 2
    assert "available sources" in unknown.stderr

    missing = run(store, "download", "x", "--url", server.url("/missing"))
    assert missing.returncode == 3

    mismatch = run(store, "download", "x", "--url", url, "--checksum", "sha256:" + "0" * 64)
    assert mismatch.returncode == 1
    assert "Checksum mismatch" in mismatch.stderr

    server.queue("/tiny.pth", Fault(status=503), Fault(status=503))
    failed = run(store, "download", "y", "--url", url, "--retries", "1", "--timeout", "5")
    assert failed.returncode == 1
    assert "after 2 attempts" in failed.stderr

    quota = run(store, "download", "z", "--url", url)
    assert quota.returncode == 0
    env_quota = subprocess.run(
        [sys.executable, "-m", "model_fetch", "download", "w", "--url", url],
        env={**os.environ, "MODEL_FETCH_HOME": str(store), "MODEL_FETCH_MAX_STORE_SIZE": "1000"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert env_quota.returncode == 5
    assert "Insufficient storage space" in env_quota.stderr

    not_installed = run(store, "info", "nothing")
    assert not_installed.returncode == 3


def test_help_lists_exit_codes(store: Path) -> None:
    """--help documents the exit codes."""
    out = run(store, "--help").stdout
    for code in ("0", "1", "2", "3", "4", "5", "130"):
        assert f"  {code} " in out


def test_store_option(tmp_path: Path, url: str) -> None:
    """--store overrides MODEL_FETCH_HOME."""
    other = tmp_path / "other"
    done = run(
        tmp_path / "ignored", "--store", str(other), "download", "tiny", "--url", url, "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["file_path"].startswith(str(other))


def test_interrupt_exits_130_and_installs_nothing(store: Path, server: FileServer) -> None:
    """Ctrl-C during a download exits 130, installs nothing and frees the lock."""
    server.add_file("/slow.bin", DATA)
    # The server goes silent after 10,000 bytes, so the download cannot finish before the
    # signal however busy the machine is (a drip that merely slowed it did, under load).
    server.queue("/slow.bin", Fault(stall_after=10_000))
    env = {**os.environ, "MODEL_FETCH_HOME": str(store)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_fetch", "download", "slow", "--url", server.url("/slow.bin")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 20
    while server.bytes_sent < 10_000 and time.monotonic() < deadline:  # the client is reading
        time.sleep(0.05)
    assert server.bytes_sent >= 10_000, "the download never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert json.loads(run(store, "list", "--json").stdout)["total"] == 0
    staging = store / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    # The lock is free: the same download now goes through at once.
    assert run(store, "download", "slow", "--url", server.url("/slow.bin")).returncode == 0


def test_verify_command(store: Path, url: str) -> None:
    """`model-fetch verify` exits 0 for an intact model and 1 for a changed one."""
    done = run(store, "download", "tiny", "--version", "v1", "--url", url, "--json")
    assert done.returncode == 0, done.stderr
    assert run(store, "verify", "tiny").returncode == 0
    Path(json.loads(done.stdout)["file_path"]).write_bytes(b"tampered")
    broken = run(store, "verify", "tiny", "--json")
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["status"] == "corrupted"


def test_serve_refuses_public_bind_without_token(store: Path) -> None:
    """`serve` on a non-loopback address without a token refuses to start (exit 2)."""
    done = run(store, "serve", "--host", "0.0.0.0", "--port", "1")  # noqa: S104 - never bound
    assert done.returncode == 2
    assert "token" in done.stderr


#: What a cache hit must not load: fsspec (with asyncio and ssl), urllib3, the readiness checks
#: and archive readers, the fleet mirror, and the plugin entry points of installed distributions.
HEAVY = (
    "asyncio",
    "fsspec",
    "importlib.metadata",
    "model_fetch._mirror",
    "model_fetch.install.checks",
    "model_fetch.install.extract",
    "ssl",
    "urllib3",
)


def test_cache_hit_loads_nothing_a_download_needs(
    store: Path, server: FileServer, url: str
) -> None:
    """A cache-hit `download` answers from the install record: no request, and a fast start-up."""
    assert run(store, "download", "tiny", "--version", "v1", "--url", url).returncode == 0
    sent = len(server.requests)
    code = (
        "import sys\n"
        "from model_fetch.cli import main\n"
        "code = main(sys.argv[1:])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    args = ("download", "tiny", "--version", "v1", "--url", url, "--if-exists", "reuse")
    hit = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "MODEL_FETCH_HOME": str(store)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert hit.returncode == 0, hit.stderr
    assert hit.stdout.startswith("Already installed tiny v1")
    assert hit.stdout.splitlines()[-1] == ""
    assert len(server.requests) == sent
