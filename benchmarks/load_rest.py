#!/usr/bin/env python3
"""A bounded load run against ``model-fetch serve`` on loopback.

It starts a slow file server and ``model-fetch serve`` (a subprocess) on 127.0.0.1, installs a
few small models, starts one slow download, then runs N client threads for a bounded time,
each alternately polling ``GET /model-download/{id}/progress`` and ``GET /models`` over its own
keep-alive connection. It prints request counts, errors, latency percentiles and requests/s per
endpoint. If ``hey`` is on PATH it also runs ``hey -z 5s -c 20`` against ``/models``.

Everything stays on 127.0.0.1, is bounded in time (``--duration``, at most 60 s) and in count
(``--max-requests``), and stops by itself: the download is cancelled, the server stopped
(SIGINT, then kill after 10 s) and the scratch store deleted, also on error or Ctrl-C.

Usage::

    python benchmarks/load_rest.py [--threads 20] [--duration 10] [--json results.json]

See benchmarks/README-load.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import http.server
import json
import math
import os
import platform
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

MAX_DURATION: Final = 60.0
MAX_THREADS: Final = 64
MAX_MODELS: Final = 50
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0
HEY_SECONDS: Final = 5
#: How fast the slow file trickles out (bytes/s); its size covers the whole run.
DRIP_RATE: Final = 64 * 1024
DRIP_PIECE: Final = 8 * 1024
REQUEST_TIMEOUT: Final = 10.0


class LoadError(Exception):
    """A set-up failure that ends the run with a message."""


# --------------------------------------------------------------------------- file server


class _FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``/fast-N.bin`` at once and ``/slow.bin`` at DRIP_RATE bytes/s."""

    protocol_version = "HTTP/1.1"
    server: _FileServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet."""

    def do_GET(self) -> None:
        """Send a file, slowly for /slow.bin."""
        slow = self.path == "/slow.bin"
        if not slow and not self.path.startswith("/fast-"):
            self.send_error(404)
            return
        size = self.server.slow_size if slow else 16 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        piece = (self.path.encode() * (DRIP_PIECE // len(self.path) + 1))[:DRIP_PIECE]
        sent = 0
        with contextlib.suppress(OSError):
            while sent < size:
                chunk = piece[: min(DRIP_PIECE, size - sent)]
                self.wfile.write(chunk)
                sent += len(chunk)
                if slow and self.server.stop.wait(DRIP_PIECE / DRIP_RATE):
                    break
        if sent < size:
            self.close_connection = True


class _FileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, slow_size: int) -> None:
        self.slow_size = slow_size
        self.stop = threading.Event()
        super().__init__(("127.0.0.1", 0), _FileHandler)

    def server_bind(self) -> None:
        """Bind without a reverse DNS lookup."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


@contextlib.contextmanager
def file_server(slow_size: int) -> Iterator[_FileServer]:
    """Run the file server in a daemon thread; stop it on exit."""
    server = _FileServer(slow_size)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- REST server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(
    port: int, method: str, path: str, body: Any = None, timeout: float = REQUEST_TIMEOUT
) -> tuple[int, Any]:
    """One request on a fresh connection; return the status and the decoded JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


@contextlib.contextmanager
def rest_server(store: Path, log: Path) -> Iterator[int]:
    """Run ``model-fetch serve`` on 127.0.0.1; yield its port; stop it (SIGINT, then kill)."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "model_fetch",
        "-q",
        "--store",
        str(store),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--allow-private-urls",
        "--wait",
        "0",
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise LoadError(f"model-fetch serve exited:\n{log.read_text()}")
                with contextlib.suppress(OSError):
                    if _call(port, "GET", "/health", timeout=1)[0] == 200:
                        break
                if time.monotonic() > deadline:
                    raise LoadError(f"model-fetch serve did not answer /health:\n{log.read_text()}")
                time.sleep(0.05)
            yield port
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


# --------------------------------------------------------------------------- load


@dataclass
class Samples:
    """Latencies (seconds) and errors of one endpoint."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        """Count one error of that kind."""
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Budget:
    """A shared, thread-safe request budget and deadline."""

    def __init__(self, max_requests: int, seconds: float) -> None:
        """Allow ``max_requests`` requests within ``seconds`` from now."""
        self._left = max_requests
        self._lock = threading.Lock()
        self.deadline = time.perf_counter() + seconds

    def take(self) -> bool:
        """Claim one request; False once the deadline passed or the count is spent."""
        if time.perf_counter() >= self.deadline:
            return False
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


def _worker(
    port: int, paths: dict[str, str], budget: Budget, out: dict[str, Samples], offset: int
) -> None:
    """Alternate between the endpoints on one keep-alive connection until the budget ends."""
    names = list(paths)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    i = offset
    try:
        while budget.take():
            name = names[i % len(names)]
            i += 1
            samples = out[name]
            start = time.perf_counter()
            try:
                conn.request("GET", paths[name], headers={"Accept": "application/json"})
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                samples.error(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
                continue
            elapsed = time.perf_counter() - start
            if response.status != 200:
                samples.error(f"HTTP {response.status}")
                continue
            try:
                json.loads(raw)
            except ValueError:
                samples.error("invalid JSON")
                continue
            samples.latencies.append(elapsed)
    finally:
        conn.close()


def run_load(
    port: int, paths: dict[str, str], threads: int, seconds: float, max_requests: int
) -> tuple[dict[str, Samples], float, float]:
    """Run the client threads; return the samples, the wall time and this process's CPU time."""
    budget = Budget(max_requests, seconds)
    per_thread = [{name: Samples() for name in paths} for _ in range(threads)]
    workers = [
        threading.Thread(
            target=_worker, args=(port, paths, budget, per_thread[n], n), name=f"load-{n}"
        )
        for n in range(threads)
    ]
    for worker in workers:
        worker.daemon = True
    start = time.perf_counter()
    cpu_start = time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 2 * REQUEST_TIMEOUT)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if any(worker.is_alive() for worker in workers):
        raise LoadError("client threads did not stop")
    merged = {name: Samples() for name in paths}
    for samples in per_thread:
        for name, part in samples.items():
            merged[name].latencies += part.latencies
            for kind, count in part.errors.items():
                merged[name].errors[kind] = merged[name].errors.get(kind, 0) + count
    return merged, wall, cpu


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted data."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(samples: dict[str, Samples], wall: float) -> list[dict[str, Any]]:
    """One row per endpoint and a total row."""
    rows = []
    everything = Samples()
    for part in samples.values():
        everything.latencies += part.latencies
        for kind, count in part.errors.items():
            everything.errors[kind] = everything.errors.get(kind, 0) + count
    for name, part in [*samples.items(), ("all", everything)]:
        ordered = sorted(part.latencies)
        errors = sum(part.errors.values())
        rows.append(
            {
                "endpoint": name,
                "requests": len(ordered) + errors,
                "errors": errors,
                "error_kinds": dict(part.errors),
                "p50_ms": _percentile(ordered, 50) * 1000,
                "p95_ms": _percentile(ordered, 95) * 1000,
                "p99_ms": _percentile(ordered, 99) * 1000,
                "max_ms": (ordered[-1] if ordered else math.nan) * 1000,
                "requests_per_s": (len(ordered) + errors) / wall,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    head = "| endpoint | requests | errors | p50 ms | p95 ms | p99 ms | max ms | req/s |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [
        f"| {r['endpoint']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} | "
        f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['requests_per_s']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def run_hey(url: str) -> str | None:
    """Run ``hey -z 5s -c 20 URL`` if hey is installed; return its summary."""
    hey = shutil.which("hey")
    if hey is None:
        return None
    try:
        done = subprocess.run(
            [hey, "-z", f"{HEY_SECONDS}s", "-c", "20", url],
            capture_output=True,
            text=True,
            timeout=HEY_SECONDS + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "hey did not finish in time"
    return done.stdout.split("\nResponse time histogram")[0].strip() or done.stderr.strip()


def machine() -> dict[str, Any]:
    """Where the run happened."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), Path("/proc/cpuinfo").open() as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


# --------------------------------------------------------------------------- main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=20, help=f"client threads (1-{MAX_THREADS})")
    parser.add_argument(
        "--duration", type=float, default=10.0, help=f"seconds of load (capped at {MAX_DURATION})"
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="total request cap")
    parser.add_argument(
        "--models", type=int, default=5, help=f"small models installed first (0-{MAX_MODELS})"
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--no-hey", action="store_true", help="skip hey even if installed")
    args = parser.parse_args(argv)
    if not 1 <= args.threads <= MAX_THREADS:
        parser.error(f"--threads must be 1-{MAX_THREADS}")
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if not 0 <= args.models <= MAX_MODELS:
        parser.error(f"--models must be 0-{MAX_MODELS}")
    if args.max_requests < 1:
        parser.error("--max-requests must be at least 1")
    args.duration = min(args.duration, MAX_DURATION)
    return args


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _prepare(port: int, files: _FileServer, models: int) -> str:
    """Install the small models, start the slow download; return its download id."""
    for n in range(models):
        status, body = _call(
            port,
            "POST",
            "/model-download?wait=30",
            {"model_name": f"bench-{n}", "version": "v1", "download_url": files.url(f"/fast-{n}")},
            timeout=40,
        )
        if status != 200 or body.get("status") != "completed":
            raise LoadError(f"installing bench-{n} failed: {status} {body}")
    status, body = _call(
        port,
        "POST",
        "/model-download",
        {"model_name": "bench-slow", "version": "v1", "download_url": files.url("/slow.bin")},
    )
    if status != 200 or body.get("status") != "started":
        raise LoadError(f"the slow download did not start: {status} {body}")
    return str(body["download_id"])


def main(argv: list[str] | None = None) -> int:
    """Run the load test; return the exit status (0 ok, 1 set-up failure or request errors)."""
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    hey_seconds = 0 if args.no_hey or shutil.which("hey") is None else HEY_SECONDS
    slow_size = int(DRIP_RATE * (args.duration + hey_seconds + 60))
    info = machine()
    scratch = Path(tempfile.mkdtemp(prefix="model-fetch-load-"))
    try:
        with (
            file_server(slow_size) as files,
            rest_server(scratch / "store", scratch / "log") as port,
        ):
            download_id = _prepare(port, files, args.models)
            paths = {"progress": f"/model-download/{download_id}/progress", "models": "/models"}
            print(
                f"Load: {args.threads} threads for {args.duration:g} s against "
                f"http://127.0.0.1:{port} ({args.models} models installed, 1 download running)",
                file=sys.stderr,
            )
            samples, wall, client_cpu = run_load(
                port, paths, args.threads, args.duration, args.max_requests
            )
            final = _call(port, "GET", paths["progress"])[1]
            hey_summary = None if args.no_hey else run_hey(f"http://127.0.0.1:{port}/models")
            _call(port, "DELETE", f"/model-download/{download_id}")
    except LoadError as exc:
        print(f"load_rest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load_rest: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = summarise(samples, wall)
    print(
        f"{info['date_utc']} UTC, {info['cores']} cores ({info['cpu']}), Python {info['python']}, "
        f"{args.threads} threads, {wall:.1f} s; the load generator used "
        f"{client_cpu:.1f} CPU-s"
    )
    print(table(rows))
    progress = final.get("progress", {}) if isinstance(final, dict) else {}
    print(
        f"\nThe download was '{final.get('status')}' at {progress.get('percentage')}% after the "
        "run (then cancelled)."
    )
    for row in rows:
        if row["error_kinds"]:
            print(f"errors on {row['endpoint']}: {row['error_kinds']}")
    if hey_summary is not None:
        print(f"\nhey -z {HEY_SECONDS}s -c 20 /models:\n{hey_summary}")
    elif not args.no_hey:
        print("\n(hey is not installed; skipped)")
    if args.json:
        result = {
            "machine": info,
            "settings": {
                "threads": args.threads,
                "duration_s": args.duration,
                "max_requests": args.max_requests,
                "models_installed": args.models,
            },
            "wall_s": wall,
            "client_cpu_s": client_cpu,
            "rows": rows,
            "download_after_run": final,
            "hey": hey_summary,
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if rows[-1]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
