#!/usr/bin/env python3
# Copyright (c) 2026 model_fetch developers. Licensed under the MIT License.
"""Benchmark verified downloads: model_fetch against curl | openssl, aria2c and Python peers.

The script generates a test file, serves it from a private nginx on 127.0.0.1 (out of the
page cache, ``sendfile on``), and times each client downloading the whole file with sha256
verification, over several rounds in rotating order. It prints a table of median throughput
(MB = 10**6 bytes) and the ratio of model_fetch's throughput to each peer's.

Usage::

    python benchmarks/bench_download.py [--size-mib 1024] [--rounds 3] [--out results.json]
                                         [--markdown] [--connections N] [--limit-rate 50m]
                                         [--write-docs NAME]

Requires ``/usr/sbin/nginx`` (``apt-get install -y nginx``), curl and openssl. aria2c, pooch,
torch, requests, huggingface_hub and model_fetch are optional: a client that cannot be found is
reported as unavailable. ``--write-docs NAME`` writes the table into ``docs/benchmarks.md``
(between ``<!-- bench:NAME -->`` markers) and a chart into ``docs/images/bench-NAME.svg``.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType, ModuleType

MIB = 1 << 20
MB = 10**6
PAGE = 4096
NGINX = "/usr/sbin/nginx"
REPO_ROOT = Path(__file__).resolve().parent.parent
FILE_NAME = "bench-model.bin"
ALL_CLIENTS = (
    "model_fetch",
    "curl_openssl",
    "aria2c",
    "pooch",
    "torch_hub",
    "hf_hub",
    "requests_naive",
)
DEFAULT_CLIENTS = ("model_fetch", "curl_openssl", "pooch", "torch_hub", "hf_hub", "requests_naive")
CLIENT_LABELS = {
    "model_fetch": "model_fetch",
    "curl_openssl": "curl -s | openssl dgst -sha256",
    "aria2c": "aria2c --checksum=sha-256",
    "pooch": "pooch.retrieve",
    "torch_hub": "torch.hub.download_url_to_file",
    "hf_hub": "huggingface_hub.hf_hub_download + sha256",
    "requests_naive": "requests iter_content(8192) + sha256",
}


class BenchError(Exception):
    """A set-up failure that ends the benchmark with a message."""


# --------------------------------------------------------------------------- test data


def make_test_file(path: Path, size_mib: int) -> str:
    """Write ``size_mib`` MiB of incompressible-looking bytes to ``path``; return the sha256.

    One MiB comes from os.urandom; every 4 KiB page of each MiB gets a distinct 8-byte
    counter stamped at its start, so no two pages of the file are equal and neither
    compression nor block deduplication can shortcut the transfer.
    """
    base = os.urandom(MIB)
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for block_no in range(size_mib):
            block = bytearray(base)
            first = block_no * (MIB // PAGE)
            for page_no, off in enumerate(range(0, MIB, PAGE)):
                block[off : off + 8] = (first + page_no).to_bytes(8, "little")
            digest.update(block)
            fh.write(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        buf = bytearray(4 * MIB)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def warm_page_cache(path: Path) -> None:
    with path.open("rb", buffering=0) as fh:
        buf = bytearray(4 * MIB)
        while fh.readinto(buf):
            pass


# --------------------------------------------------------------------------- nginx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nginx_config(work: Path, root: Path, port: int, limit_rate: str | None) -> str:
    # Workers of a root master drop to "nobody" unless told otherwise, and "nobody" cannot
    # read the 0700 temp dir. Without root privileges the directive only triggers a warning.
    user = "user root;\n" if os.geteuid() == 0 else ""
    rate = f"        limit_rate {limit_rate};\n" if limit_rate else ""
    temp = "\n".join(
        f"    {kind}_temp_path {work / ('nginx-' + kind)};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
{user}daemon off;
worker_processes 1;
pid {work / "nginx.pid"};
error_log {work / "nginx-error.log"} warn;

events {{
    worker_connections 64;
}}

http {{
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_timeout 5;
{temp}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        location / {{
{rate}        }}
    }}
}}
"""


@dataclass
class Nginx:
    """A private nginx serving ``root`` on 127.0.0.1, with its state kept in ``work``."""

    work: Path
    root: Path
    limit_rate: str | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def error_log(self) -> Path:
        """Where nginx writes its errors (also passed as ``-e`` for start-up errors)."""
        return self.work / "nginx-error.log"

    def url(self, name: str) -> str:
        """The URL of a file in the served directory."""
        return f"http://127.0.0.1:{self.port}/{name}"

    def start(self, probe: str, expected_size: int) -> None:
        """Start nginx on a free port and wait until it serves ``probe`` with the right size."""
        last_error = ""
        for _attempt in range(5):
            self.port = free_port()
            conf = self.work / "nginx.conf"
            conf.write_text(nginx_config(self.work, self.root, self.port, self.limit_rate))
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.work), "-e", str(self.error_log), "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                # Own session: Ctrl-C reaches only this script, which then stops nginx.
                start_new_session=True,
            )
            ok, last_error = self._wait_ready(probe, expected_size)
            if ok:
                return
            self.stop()
            if "Address already in use" not in last_error:
                break
        raise BenchError(f"nginx did not start: {last_error.strip()}")

    def _wait_ready(self, probe: str, expected_size: int) -> tuple[bool, str]:
        if self.proc is None:
            return False, "nginx was not started"
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raw = self.proc.stderr.read() if self.proc.stderr else b""
                stderr = raw.decode(errors="replace")
                return False, stderr + self._error_log_tail()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("HEAD", "/" + probe)
                resp = conn.getresponse()
                length = resp.getheader("Content-Length")
                conn.close()
            except OSError:
                time.sleep(0.05)
                continue
            if resp.status != 200 or length != str(expected_size):
                return False, f"HEAD /{probe}: HTTP {resp.status}, Content-Length {length}"
            return True, ""
        return False, "timed out waiting for nginx\n" + self._error_log_tail()

    def _error_log_tail(self) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop nginx (fast shutdown, then SIGKILL); safe to call more than once."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# --------------------------------------------------------------------------- clients


@dataclass
class RoundResult:
    """One timed run of one client."""

    round: int
    position: int
    seconds: float | None = None
    error: str | None = None
    note: str | None = None


@dataclass
class Client:
    """A client under test: how to run one round, or why it is unavailable, and its results."""

    name: str
    label: str
    run: Callable[[int], float] | None = None  # round number -> timed seconds
    unavailable: str | None = None
    rounds: list[RoundResult] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def ok_seconds(self) -> list[float]:
        """Timings of the rounds that succeeded."""
        return [r.seconds for r in self.rounds if r.seconds is not None]

    def errors(self) -> list[str]:
        """Errors of the rounds that failed."""
        return [r.error for r in self.rounds if r.error is not None]


@dataclass
class Context:
    """What every client needs to know about the file to download."""

    url: str
    sha256: str
    size: int
    out_dir: Path
    verify_output: bool
    connections: int = 1


def check_output(ctx: Context, path: Path) -> None:
    """Untimed check that a client really wrote the whole, correct file."""
    size = path.stat().st_size
    if size != ctx.size:
        raise BenchError(f"{path.name}: {size} bytes, expected {ctx.size}")
    if ctx.verify_output and sha256_file(path) != ctx.sha256:
        raise BenchError(f"{path.name}: sha256 mismatch after a reported success")


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).lstat().st_blocks * 512
    return total


def import_model_fetch() -> tuple[ModuleType, str]:
    """Import model_fetch; fall back to the repository's src/ if it is not installed."""
    try:
        return importlib.import_module("model_fetch"), "installed"
    except ImportError:
        src = REPO_ROOT / "src"
        if not (src / "model_fetch").is_dir():
            raise
        sys.path.insert(0, str(src))
        return importlib.import_module("model_fetch"), f"imported from {src} (not installed)"


def make_model_fetch(ctx: Context) -> Client:
    client = Client("model_fetch", CLIENT_LABELS["model_fetch"])
    try:
        t0 = time.perf_counter()
        module, origin = import_model_fetch()
        downloader_cls: Any = module.Downloader
        client.info["import_seconds"] = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - the library is being written concurrently
        client.unavailable = f"unavailable: {type(exc).__name__}: {exc}"
        return client
    client.info["origin"] = origin
    client.info["module_file"] = str(getattr(module, "__file__", ""))
    store = ctx.out_dir / "model_fetch-store"
    store.mkdir(exist_ok=True)
    warned: list[bool] = []

    def run(round_no: int) -> float:
        t0 = time.perf_counter()
        with downloader_cls(store=store) as d:
            result = d.download(
                "bench-model",
                version=f"r{round_no}",
                download_url=ctx.url,
                checksum="sha256:" + ctx.sha256,
                force_download=True,
                options={"connections": ctx.connections},
            )
        elapsed = time.perf_counter() - t0
        file_path = Path(result.file_path)
        try:
            check_output(ctx, file_path)
        finally:
            # Free the space: the installed file, and its target if it is a link into a blob
            # store. If the store still holds about a file's worth, start it afresh.
            target = file_path.resolve()
            remove(file_path)
            if target != file_path:
                remove(target)
            left = dir_bytes(store)
            client.info.setdefault("store_bytes_after_cleanup", []).append(left)
            if left > ctx.size // 2:
                if not warned:
                    warned.append(True)
                    print(
                        f"note: model_fetch store still holds {left / MB:.0f} MB after "
                        "removing the installed file; clearing the store between rounds",
                        file=sys.stderr,
                    )
                shutil.rmtree(store)
                store.mkdir()
        return elapsed

    client.run = run
    return client


def make_curl_openssl(ctx: Context) -> Client:
    client = Client("curl_openssl", CLIENT_LABELS["curl_openssl"])
    missing = [tool for tool in ("curl", "openssl", "bash") if shutil.which(tool) is None]
    if missing:
        client.unavailable = f"unavailable: {', '.join(missing)} not found"
        return client
    script = 'set -o pipefail; curl -s -f "$1" | openssl dgst -sha256'

    def run(_round_no: int) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["bash", "-c", script, "bench", ctx.url],
            check=False,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise BenchError(f"pipeline exited {proc.returncode}: {proc.stderr.strip()}")
        words = proc.stdout.split()
        digest = words[-1].lower() if words else ""
        if digest != ctx.sha256:
            raise BenchError(f"digest mismatch: openssl printed {proc.stdout.strip()!r}")
        return elapsed

    client.run = run
    return client


def import_for(client: Client, name: str) -> Any:
    """Import a peer's module, timing it; None (with the client marked unavailable) if it fails."""
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # e.g. "Failed to initialize NumPy" without numpy
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        client.unavailable = f"unavailable: {type(exc).__name__}: {exc}"
        return None
    client.info[f"import_{name.replace('.', '_')}_seconds"] = time.perf_counter() - t0
    return module


def file_rounds(ctx: Context, client: Client, fetch: Callable[[Path], object]) -> Client:
    """Give ``client`` a round that times ``fetch(dest)``, checks ``dest`` untimed, deletes it."""
    out = ctx.out_dir / client.name
    out.mkdir(exist_ok=True)

    def run(round_no: int) -> float:
        dest = out / f"{client.name}-r{round_no}.bin"
        try:
            t0 = time.perf_counter()
            fetch(dest)
            elapsed = time.perf_counter() - t0
            check_output(ctx, dest)
        finally:
            remove(dest)
        return elapsed

    client.run = run
    return client


def make_pooch(ctx: Context) -> Client:
    client = Client("pooch", CLIENT_LABELS["pooch"])
    pooch = import_for(client, "pooch")
    if pooch is None:
        return client
    pooch.get_logger().setLevel("WARNING")  # no "Downloading data from ..." lines

    def fetch(dest: Path) -> object:
        return pooch.retrieve(
            ctx.url,
            known_hash="sha256:" + ctx.sha256,
            path=dest.parent,
            fname=dest.name,
            progressbar=False,
        )

    return file_rounds(ctx, client, fetch)


def make_torch_hub(ctx: Context) -> Client:
    client = Client("torch_hub", CLIENT_LABELS["torch_hub"])
    if import_for(client, "torch") is None:
        return client
    hub = import_for(client, "torch.hub")
    if hub is None:
        return client

    def fetch(dest: Path) -> object:
        return hub.download_url_to_file(
            ctx.url, str(dest), hash_prefix=ctx.sha256[:10], progress=False
        )

    return file_rounds(ctx, client, fetch)


def make_aria2c(ctx: Context) -> Client:
    """aria2c with as many connections as model_fetch, verifying the sha256 itself."""
    client = Client("aria2c", f"{CLIENT_LABELS['aria2c']} -x{ctx.connections}")
    if shutil.which("aria2c") is None:
        client.unavailable = "unavailable: aria2c not found (apt-get install -y aria2)"
        return client
    n = str(ctx.connections)

    def fetch(dest: Path) -> object:
        command = [
            "aria2c", f"-x{n}", f"-s{n}", "-k1M", f"--checksum=sha-256={ctx.sha256}",
            "--quiet=true", "--allow-overwrite=true", "--auto-file-renaming=false",
            "-d", str(dest.parent), "-o", dest.name, ctx.url,
        ]  # fmt: skip
        proc = subprocess.run(command, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError(f"aria2c exited {proc.returncode}: {proc.stderr.strip()}")
        return None

    return file_rounds(ctx, client, fetch)


def make_requests_naive(ctx: Context) -> Client:
    """The loop most scripts contain: requests, iter_content(8192), hashlib, write."""
    client = Client("requests_naive", CLIENT_LABELS["requests_naive"])
    requests = import_for(client, "requests")
    if requests is None:
        return client

    def fetch(dest: Path) -> object:
        digest = hashlib.sha256()
        with requests.get(ctx.url, stream=True, timeout=60) as response, dest.open("wb") as f:
            response.raise_for_status()
            for chunk in response.iter_content(8192):
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != ctx.sha256:
            raise BenchError("sha256 mismatch")
        return None

    return file_rounds(ctx, client, fetch)


class _MiniHub:
    """Just enough of the Hub for hf_hub_download: resolve answers 302 to nginx (the "CDN")."""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, ctx: Context) -> None:
        import http.server  # noqa: PLC0415
        import threading  # noqa: PLC0415

        ctx_url, sha, size = ctx.url, ctx.sha256, ctx.size
        commit = self.COMMIT

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                if "/resolve/" not in self.path:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(302)
                self.send_header("Location", ctx_url)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(size))
                self.send_header("ETag", f'"{sha}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def make_hf_hub(ctx: Context) -> Client:
    """hf_hub_download from a local hub whose resolve redirects to nginx, then a sha256 pass.

    huggingface_hub does not check the sha256 of what it downloads, so the timed part adds the
    pass over the file a user must make to verify it.
    """
    client = Client("hf_hub", CLIENT_LABELS["hf_hub"])
    hub = _MiniHub(ctx)
    # huggingface_hub reads these once, at import.
    os.environ.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    os.environ.pop("HF_HUB_OFFLINE", None)
    try:
        hf: Any = importlib.import_module("huggingface_hub")
    except Exception as exc:  # noqa: BLE001
        client.unavailable = f"unavailable: {type(exc).__name__}: {exc}"
        return client
    out = ctx.out_dir / "hf"

    def run(round_no: int) -> float:
        cache = out / f"r{round_no}"
        try:
            t0 = time.perf_counter()
            got = Path(hf.hf_hub_download("bench/model", FILE_NAME, cache_dir=cache))
            if sha256_file(got) != ctx.sha256:
                raise BenchError("sha256 mismatch")
            elapsed = time.perf_counter() - t0
            check_output(ctx, got)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        return elapsed

    client.run = run
    return client


FACTORIES: dict[str, Callable[[Context], Client]] = {
    "model_fetch": make_model_fetch,
    "curl_openssl": make_curl_openssl,
    "aria2c": make_aria2c,
    "pooch": make_pooch,
    "torch_hub": make_torch_hub,
    "hf_hub": make_hf_hub,
    "requests_naive": make_requests_naive,
}


# --------------------------------------------------------------------------- reporting


def dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def first_line(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else None


def machine_info() -> dict[str, Any]:
    cpu_model = None
    flags: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and cpu_model is None:
                cpu_model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value.split()
    mem_total = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    mf = sys.modules.get("model_fetch")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "cpu_sha_ni": "sha_ni" in flags,
        "cpu_avx2": "avx2" in flags,
        "mem_total_bytes": mem_total,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "openssl_python": __import__("ssl").OPENSSL_VERSION,
        "tools": {
            "nginx": first_line([NGINX, "-v"]),
            "curl": first_line(["curl", "--version"]),
            "openssl": first_line(["openssl", "version"]),
            "aria2c": first_line(["aria2c", "--version"]),
        },
        "libraries": {
            "model_fetch": getattr(mf, "__version__", None)
            or dist_version("model-fetch", "model_fetch"),
            "pooch": dist_version("pooch"),
            "torch": dist_version("torch"),
            "urllib3": dist_version("urllib3"),
            "requests": dist_version("requests"),
            "huggingface_hub": dist_version("huggingface_hub"),
        },
    }


def summarize(clients: list[Client], size: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    mf = next((c for c in clients if c.name == "model_fetch"), None)
    mf_secs = mf.ok_seconds() if mf else []
    mf_mbps = size / MB / statistics.median(mf_secs) if mf_secs else None
    for c in clients:
        secs = c.ok_seconds()
        med = statistics.median(secs) if secs else None
        mbps = size / MB / med if med else None
        if c.unavailable:
            status = c.unavailable
        elif c.errors():
            status = f"failed {len(c.errors())}/{len(c.rounds)} rounds: {c.errors()[0]}"
        else:
            status = "ok"
        rows.append(
            {
                "client": c.name,
                "label": c.label,
                "status": status,
                "median_seconds": med,
                "median_mb_per_s": mbps,
                "min_seconds": min(secs) if secs else None,
                "max_seconds": max(secs) if secs else None,
                "model_fetch_div_peer": (mf_mbps / mbps) if (mf_mbps and mbps) else None,
            }
        )
    return rows


def render_table(rows: list[dict[str, Any]], markdown: bool) -> str:
    """Render the summary as aligned text or Markdown; long statuses go to numbered notes."""
    header = ["client", "median MB/s", "median s", "min-max s", "model_fetch ÷ peer"]
    body: list[list[str]] = []
    notes: list[str] = []
    for r in rows:
        label = r["label"]
        if r["status"] != "ok":
            notes.append(f"[{len(notes) + 1}] {r['client']}: {r['status']}")
            label = f"{label} [{len(notes)}]"
        if r["median_seconds"] is None:
            short = "unavailable" if r["status"].startswith("unavailable") else "failed"
            body.append([label, short, "", "", ""])
            continue
        ratio = r["model_fetch_div_peer"]
        body.append(
            [
                label,
                f"{r['median_mb_per_s']:,.0f}",
                f"{r['median_seconds']:.3f}",
                f"{r['min_seconds']:.3f}-{r['max_seconds']:.3f}",
                "-" if ratio is None else f"{ratio:.2f}",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        if notes:
            lines += ["", *("- " + n.replace("|", "\\|") for n in notes)]
        return "\n".join(lines)
    widths = [max(len(header[i]), *(len(row[i]) for row in body)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])]
        out += [cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths)] + [line(row) for row in body]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="test file size in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per client")
    parser.add_argument("--out", type=Path, help="write raw timings and machine info as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--connections",
        type=int,
        default=1,
        help="model_fetch's options.connections (and aria2c's -x/-s)",
    )
    parser.add_argument(
        "--write-docs",
        metavar="NAME",
        help="write the table into docs/benchmarks.md and a chart into docs/images/",
    )
    parser.add_argument(
        "--clients",
        default=",".join(DEFAULT_CLIENTS),
        help=f"comma-separated subset of: {', '.join(ALL_CLIENTS)}",
    )
    parser.add_argument(
        "--tmpdir", type=Path, default=None, help="parent of the scratch dir (default: $TMPDIR)"
    )
    parser.add_argument(
        "--limit-rate",
        default=None,
        help="nginx per-connection limit_rate, e.g. 50m (see README caveats)",
    )
    parser.add_argument(
        "--no-verify-output",
        action="store_true",
        help="skip the untimed re-hash of each client's output file (size is still checked)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    args = parser.parse_args(argv)
    if args.size_mib < 1 or args.rounds < 1:
        parser.error("--size-mib and --rounds must be at least 1")
    names = [n.strip() for n in args.clients.split(",") if n.strip()]
    bad = [n for n in names if n not in ALL_CLIENTS]
    if bad or not names:
        parser.error(f"unknown client(s) {bad}; choose from {', '.join(ALL_CLIENTS)}")
    args.client_names = names
    return args


def _raise_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def scratch_dir(parent: Path | None, keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bench-download-", dir=parent))
    try:
        yield path
    finally:
        if keep:
            print(f"kept scratch dir {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_free_space(work: Path, size: int) -> None:
    need = 2 * size + 256 * MIB  # the served file + one client's output at a time + slack
    free = shutil.disk_usage(work).free
    if free < need:
        raise BenchError(
            f"not enough free space in {work}: {free / MIB:,.0f} MiB free, "
            f"{need / MIB:,.0f} MiB needed (use --tmpdir or a smaller --size-mib)"
        )


def run_one(c: Client, round_no: int, position: int) -> RoundResult:
    rr = RoundResult(round=round_no, position=position)
    if c.run is None:
        rr.error = c.unavailable or "not runnable"
        return rr
    os.sync()  # start each run without another client's dirty pages waiting for write-back
    try:
        rr.seconds = c.run(round_no)
    except Exception as exc:  # noqa: BLE001 - report and carry on with the other clients
        rr.error = f"{type(exc).__name__}: {exc}"
    return rr


def run_rounds(clients: list[Client], rounds: int, size: int) -> None:
    runnable = [c for c in clients if c.run is not None]
    for round_no in range(rounds):
        # Rotate the order each round so no client always runs first or last.
        shift = round_no % len(runnable) if runnable else 0
        order = runnable[shift:] + runnable[:shift]
        for position, c in enumerate(order):
            rr = run_one(c, round_no, position)
            c.rounds.append(rr)
            head = f"round {round_no + 1}/{rounds} {c.name:<13}"
            if rr.seconds is not None:
                log(f"{head} {rr.seconds:7.3f} s  {size / MB / rr.seconds:8.1f} MB/s")
            else:
                log(f"{head} FAILED {rr.error}")


def run_benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    size = args.size_mib * MIB
    check_free_space(work, size)
    www = work / "www"
    out_dir = work / "out"
    www.mkdir()
    out_dir.mkdir()
    log(f"writing {args.size_mib} MiB test file in {www} ...")
    t0 = time.perf_counter()
    sha = make_test_file(www / FILE_NAME, args.size_mib)
    log(f"  done in {time.perf_counter() - t0:.1f} s, sha256 {sha}")

    nginx = Nginx(work=work, root=www, limit_rate=args.limit_rate)
    try:
        nginx.start(FILE_NAME, size)
        url = nginx.url(FILE_NAME)
        log(f"nginx serving {url}")
        ctx = Context(
            url=url,
            sha256=sha,
            size=size,
            out_dir=out_dir,
            verify_output=not args.no_verify_output,
            connections=args.connections,
        )
        clients = [FACTORIES[name](ctx) for name in args.client_names]
        for c in clients:
            if c.unavailable:
                log(f"{c.name}: {c.unavailable}")
            if "import_torch_seconds" in c.info:
                log(
                    f"note: `import torch` took {c.info['import_torch_seconds']:.2f} s "
                    "(not included in torch.hub's timings)"
                )
        # Warm the page cache (the file was just written, but make sure) and nginx, untimed.
        warm_page_cache(www / FILE_NAME)
        subprocess.run(
            ["curl", "-s", "-f", "-o", os.devnull, url], check=False, stdin=subprocess.DEVNULL
        )
        run_rounds(clients, args.rounds, size)
    finally:
        nginx.stop()

    return {
        "benchmark": "bench_download",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "units": {"MB": "10**6 bytes", "MiB": "2**20 bytes", "seconds": "wall clock"},
        "args": {
            "size_mib": args.size_mib,
            "rounds": args.rounds,
            "clients": args.client_names,
            "limit_rate": args.limit_rate,
            "verify_output": not args.no_verify_output,
            "connections": args.connections,
        },
        "file": {"bytes": size, "sha256": sha},
        "server": {"nginx_config": (work / "nginx.conf").read_text()},
        "machine": machine_info(),
        "clients": [client_record(c, size) for c in clients],
        "summary": summarize(clients, size),
    }


def client_record(c: Client, size: int) -> dict[str, Any]:
    return {
        "client": c.name,
        "label": c.label,
        "unavailable": c.unavailable,
        "info": c.info,
        "rounds": [
            {
                "round": r.round,
                "position": r.position,
                "seconds": r.seconds,
                "mb_per_s": size / MB / r.seconds if r.seconds else None,
                "error": r.error,
            }
            for r in c.rounds
        ],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.access(NGINX, os.X_OK):
        print(
            f"error: nginx not found at {NGINX}. Install it with:\n"
            "    apt-get update && apt-get install -y nginx",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        with scratch_dir(args.tmpdir, args.keep) as work:
            results = run_benchmark(args, work)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nginx stopped and scratch dir removed", file=sys.stderr)
        return 130

    print()
    print(
        f"{args.size_mib} MiB file, {args.rounds} round(s), nginx on 127.0.0.1 "
        f"({results['machine']['nproc']} CPUs: {results['machine']['cpu_model']}); "
        "MB = 10^6 bytes; MB/s = size / median seconds"
    )
    if args.markdown:
        print()
    print(render_table(results["summary"], args.markdown))
    torch_info: dict[str, Any] = next(
        (c["info"] for c in results["clients"] if c["client"] == "torch_hub"), {}
    )
    if "import_torch_seconds" in torch_info:
        print(
            f"\nnote: `import torch` took {torch_info['import_torch_seconds']:.2f} s, "
            "not included in torch.hub's timings"
        )
    mf_info: dict[str, Any] = next(
        (c["info"] for c in results["clients"] if c["client"] == "model_fetch"), {}
    )
    if mf_info.get("origin", "installed") != "installed":
        print(f"note: model_fetch {mf_info['origin']}")
    if args.write_docs:
        from docs_output import write_chart, write_section  # noqa: PLC0415

        given = sys.argv[1:] if argv is None else argv
        out_at = given.index("--out") if "--out" in given else None  # a local path: not shown
        if out_at is not None:
            given = given[:out_at] + given[out_at + 2 :]
        argv_text = " ".join(given)
        machine = results["machine"]
        heading = (
            f"{results['date'][:16].replace('T', ' ')} UTC, {machine['nproc']} CPUs "
            f"({machine['cpu_model']}), Python {machine['python']}, "
            f"{args.size_mib} MiB file, {args.rounds} rounds in rotating order, medians; "
            f"`python benchmarks/bench_download.py {argv_text}`"
        )
        write_section(
            args.write_docs, heading + "\n\n" + render_table(results["summary"], markdown=True)
        )
        rows = [r for r in results["summary"] if r["median_mb_per_s"]]
        write_chart(
            args.write_docs,
            labels=[r["label"] for r in rows],
            values=[r["median_mb_per_s"] for r in rows],
            xlabel="median MB/s (higher is better)",
            title=f"{args.size_mib} MiB verified download"
            + (f", nginx limit_rate {args.limit_rate}" if args.limit_rate else ""),
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
