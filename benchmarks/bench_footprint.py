#!/usr/bin/env python3
# Copyright (c) 2026 model_fetch developers. Licensed under the MIT License.
"""Measure model_fetch's footprint: start-up times, cache hits, and peak memory of a download.

- **Start-up:** medians over ``--runs`` fresh processes of ``python -c "import model_fetch"``,
  ``python -c "from model_fetch import Downloader"`` and ``model-fetch --help`` (``python -c
  pass`` is shown for reference).
- **Cache hit:** ``Downloader.download()`` of an installed version, timed in a warm process
  (median of 200 calls) with the HTTP server that served it **stopped**, so any request would
  fail; and the same as a whole fresh ``model-fetch download`` process.
- **Memory:** the peak RSS (``ru_maxrss`` from ``wait4``) of a fresh process that downloads a
  256 MiB and a 1 GiB file from a private nginx on 127.0.0.1, with 1 and with 8 connections.
  Bounded memory means the two sizes differ by little (target: under 16 MiB).

Usage::

    python benchmarks/bench_footprint.py [--runs 9] [--write-docs]

Needs ``/usr/sbin/nginx`` for the memory part (``--skip-memory`` leaves it out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_download import MIB, NGINX, Nginx, make_test_file

PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("model-fetch"))
TINY = b"model_fetch footprint benchmark\n" * 64


def median_ms(command: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of ``command`` in fresh processes, in milliseconds (after one warm-up)."""
    subprocess.run(command, check=True, capture_output=True, env=env)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


class _TinyServer:
    """One small file over HTTP on 127.0.0.1, counting requests."""

    def __init__(self) -> None:
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(TINY)))
                self.end_headers()
                self.wfile.write(TINY)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tiny.bin"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def startup(runs: int, work: Path) -> list[tuple[str, float, str]]:
    """Rows of (what, median ms, target)."""
    store = work / "store"
    env = {**os.environ, "MODEL_FETCH_HOME": str(store)}
    rows = [
        ("`python -c pass` (reference)", median_ms([PYTHON, "-c", "pass"], runs), ""),
        (
            '`python -c "import model_fetch"`',
            median_ms([PYTHON, "-c", "import model_fetch"], runs),
            "< 100 ms",
        ),
        (
            '`python -c "from model_fetch import Downloader"`',
            median_ms([PYTHON, "-c", "from model_fetch import Downloader"], runs),
            "",
        ),
        ("`model-fetch --help`", median_ms([CLI, "--help"], runs), "< 300 ms"),
    ]
    server = _TinyServer()
    from model_fetch import Downloader  # noqa: PLC0415

    with Downloader(store=store) as downloader:
        downloader.download("tiny", "v1", download_url=server.url)
        server.stop()  # from here on, any request would fail
        calls = []
        for _ in range(200):
            t0 = time.perf_counter()
            result = downloader.download("tiny", "v1", download_url=server.url, if_exists="reuse")
            calls.append((time.perf_counter() - t0) * 1000)
            if not result.reused:
                raise SystemExit("a cache hit was not reused")
    if server.requests != 1:
        raise SystemExit(f"cache hits made {server.requests - 1} requests")
    rows.append(
        ("cache-hit `download()` in a warm process", statistics.median(calls), "< 20 ms"),
    )
    command = [CLI, "download", "tiny", "--version", "v1", "--url", server.url]
    rows.append(
        (
            "cache-hit `model-fetch download` (fresh process)",
            median_ms([*command, "--if-exists", "reuse", "--json"], runs, env),
            "",
        )
    )
    return rows


def peak_rss_mib(url: str, store: Path, connections: int) -> float:
    """The peak RSS of a fresh process downloading ``url``, in MiB."""
    code = (
        "import sys; from model_fetch import Downloader\n"
        "with Downloader(store=sys.argv[2]) as d:\n"
        "    d.download('m', 'v1', download_url=sys.argv[1], force_download=True,\n"
        "               options={'connections': int(sys.argv[3])})\n"
    )
    proc = subprocess.Popen([PYTHON, "-c", code, url, str(store), str(connections)])
    _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"download of {url} failed")
    shutil.rmtree(store, ignore_errors=True)
    return usage.ru_maxrss / 1024  # KiB on Linux


def memory(work: Path) -> list[tuple[str, float, float, float]]:
    """Rows of (connections, peak MiB for 256 MiB, for 1 GiB, difference)."""
    www = work / "www"
    www.mkdir()
    make_test_file(www / "small.bin", 256)
    make_test_file(www / "large.bin", 1024)
    nginx = Nginx(work=work, root=www)
    rows = []
    try:
        nginx.start("small.bin", 256 * MIB)
        for connections in (1, 8):
            small = peak_rss_mib(nginx.url("small.bin"), work / "s", connections)
            large = peak_rss_mib(nginx.url("large.bin"), work / "s", connections)
            rows.append((f"{connections}", small, large, large - small))
            print(f"connections={connections}: {small:.1f} / {large:.1f} MiB", file=sys.stderr)
    finally:
        nginx.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per start-up figure")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the nginx part")
    parser.add_argument(
        "--write-docs", action="store_true", help="write the tables into docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        work = Path(tmp)
        start_rows = startup(args.runs, work)
        memory_rows = [] if args.skip_memory or not os.access(NGINX, os.X_OK) else memory(work)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        (
            f"{date}, medians of {args.runs} fresh processes "
            f"(`python benchmarks/bench_footprint.py {' '.join(argv or sys.argv[1:])}`):"
        ),
        "",
        "| what | median | target |",
        "|---|---:|---|",
        *(f"| {what} | {ms:.2f} ms | {target} |" for what, ms, target in start_rows),
    ]
    if memory_rows:
        lines += [
            "",
            (
                "Peak RSS of a fresh process downloading from nginx on 127.0.0.1 (target: the two "
                "sizes differ by less than 16 MiB):"
            ),
            "",
            "| connections | 256 MiB file | 1 GiB file | difference |",
            "|---:|---:|---:|---:|",
            *(
                f"| {n} | {small:.1f} MiB | {large:.1f} MiB | {diff:+.1f} MiB |"
                for n, small, large, diff in memory_rows
            ),
        ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        from docs_output import write_section  # noqa: PLC0415

        write_section("footprint", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
