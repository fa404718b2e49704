#!/usr/bin/env python3
# Copyright (c) 2026 model_fetch developers. Licensed under the MIT License.
"""Measure model_fetch against the machine's limits and the fastest peers, in one run.

Whole processes, alternating order each round, ``sync()`` (untimed) before each run, medians:

- **durable** (1 GiB by default, no rate limit): ``curl | openssl dgst -sha256`` (network and
  hash, writes nothing), a fio ``O_DIRECT`` durable write of the same size (the disk), the
  ``model-fetch download`` CLI (durable, verified), the durable peer
  ``curl | tee OUT | openssl dgst -sha256 && sync OUT``, and optionally the CLI run from another
  source tree (``--baseline-src``, to compare a change against its base in the same rounds).
- **capped** (256 MiB, nginx ``limit_rate`` per connection, N connections): ``model-fetch
  --connections N``, ``aria2c -xN -sN --checksum``, and hf_transfer (``--hf-python``: an
  interpreter with hf_transfer installed, never the project's environment) plus the sha256 pass
  and fsync a user needs to trust its file; peak RSS of each process (``wait4``).
- **start-up**: the interpreter alone (``python -c pass``, and ``python -I -S -c pass`` without
  site-packages: the floor), ``import model_fetch``, ``model-fetch --help``, a cache-hit
  ``model-fetch download`` as fresh processes, and the time from just before a download's
  ``Popen`` to its first request line arriving at a loopback server in this process (one
  monotonic clock).

It prints each target of issue 16 as a ratio with pass/short, and with ``--write-docs`` writes the
tables into docs/benchmarks.md and benchmarks/README.md (between ``<!-- bench:limits -->``
markers). Usage::

    python benchmarks/bench_limits.py [--size-mib 1024] [--rounds 5] [--cap-size-mib 256]
        [--limit-rate 50m] [--connections 8] [--hf-python /tmp/hfvenv/bin/python]
        [--baseline-src DIR] [--write-docs] [--out results.json]

Requires nginx (``/usr/sbin/nginx``), fio, curl, openssl; aria2c is optional.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_download as bd  # the sibling script's nginx and test file helpers
import docs_output

if TYPE_CHECKING:
    from collections.abc import Callable

MIB = bd.MIB
README = Path(__file__).resolve().parent / "README.md"
SRC = bd.REPO_ROOT / "src"

HF_SCRIPT = """
import hashlib, os, sys
from hf_transfer import download
url, path, conns = sys.argv[1], sys.argv[2], int(sys.argv[3])
download(url=url, filename=path, max_files=conns, chunk_size=16 * 1024 * 1024)
digest = hashlib.sha256()
with open(path, "rb", buffering=0) as fh:
    while block := fh.read(4 << 20):
        digest.update(block)
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
print(digest.hexdigest())
"""


def timed_rss(cmd: list[str], *, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return its wall seconds, peak RSS (KiB, from ``wait4``) and stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None  # noqa: S101
    assert proc.stderr is not None  # noqa: S101
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise bd.BenchError(f"{cmd[0]} exited {proc.returncode}: {err.decode()[-400:]}")
    return elapsed, int(usage.ru_maxrss), out.decode()


class Runner:
    """The rounds of one part of the run: named commands, run in rotating order."""

    def __init__(self, name: str) -> None:
        """Nothing measured yet."""
        self.name = name
        self.runs: dict[str, list[tuple[float, int]]] = {}
        self.errors: dict[str, str] = {}

    def median(self, client: str) -> float | None:
        """The client's median seconds."""
        runs = self.runs.get(client)
        return statistics.median(s for s, _ in runs) if runs else None

    def rss_mib(self, client: str) -> float | None:
        """The client's largest peak RSS."""
        runs = self.runs.get(client)
        return max(r for _, r in runs) / 1024 if runs else None

    def rounds(self, clients: dict[str, Any], rounds: int) -> None:
        """Run every client ``rounds`` times, rotating the order each round."""
        names = list(clients)
        for round_no in range(rounds):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                if name in self.errors:
                    continue
                os.sync()
                try:
                    seconds, rss = clients[name](round_no)
                except (bd.BenchError, OSError) as exc:
                    self.errors[name] = str(exc)
                    bd.log(f"{self.name} {name}: FAILED {exc}")
                    continue
                self.runs.setdefault(name, []).append((seconds, rss))
                bd.log(f"{self.name} round {round_no + 1} {name:<22} {seconds:7.3f} s")


def mf_cmd(src: Path, store: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return [sys.executable, "-m", "model_fetch", "--store", str(store), *args], env


def durable_part(args: argparse.Namespace, work: Path, url: str, sha: str) -> Runner:
    run = Runner("durable")
    out = work / "out"
    out.mkdir(exist_ok=True)
    size = args.size_mib * MIB

    def curl_openssl(_r: int) -> tuple[float, int]:
        s, rss, text = timed_rss(["bash", "-c", f"curl -s -f {url} | openssl dgst -sha256"])
        if sha not in text:
            raise bd.BenchError("digest mismatch")
        return s, rss

    def fio(_r: int) -> tuple[float, int]:
        return fio_write(out / "fio.dat", size)

    def tee_sync(_r: int) -> tuple[float, int]:
        target = out / "tee.out"
        script = f"set -o pipefail; curl -s -f {url} | tee {target} | openssl dgst -sha256"
        try:
            s, rss, text = timed_rss(["bash", "-c", f"{script} && sync {target}"])
        finally:
            bd.remove(target)
        if sha not in text:
            raise bd.BenchError("digest mismatch")
        return s, rss

    def model_fetch(src: Path) -> Any:
        def run_it(r: int) -> tuple[float, int]:
            store = out / "store"
            shutil.rmtree(store, ignore_errors=True)
            cmd, env = mf_cmd(src, store, "download", "bench", "--version", f"r{r}",
                              "--url", url, "--checksum", f"sha256:{sha}")  # fmt: skip
            try:
                s, rss, _ = timed_rss(cmd, env=env)
            finally:
                shutil.rmtree(store, ignore_errors=True)
            return s, rss

        return run_it

    clients: dict[str, Any] = {
        "curl_openssl": curl_openssl,
        "fio_direct": fio,
        "model_fetch": model_fetch(args.src),
        "curl_tee_sync": tee_sync,
    }
    if args.baseline_src:
        clients["model_fetch_baseline"] = model_fetch(Path(args.baseline_src))
    if args.only:
        clients = {k: v for k, v in clients.items() if k in args.only.split(",")}
    run.rounds(clients, args.rounds)
    return run


def fio_write(target: Path, size: int) -> tuple[float, int]:
    """The disk's durable limit: fio writes ``size`` bytes with ``O_DIRECT``, then fsyncs."""
    cmd = ["fio", "--name=w", f"--filename={target}", "--rw=write", "--bs=4M",
           f"--size={size}", "--ioengine=libaio", "--iodepth=8", "--direct=1",
           "--end_fsync=1", "--output=/dev/null"]  # fmt: skip
    try:
        s, rss, _ = timed_rss(cmd)
    finally:
        bd.remove(target)
    return s, rss


def capped_part(args: argparse.Namespace, work: Path, url: str, sha: str) -> Runner:
    run = Runner("capped")
    out = work / "out-capped"
    out.mkdir(exist_ok=True)
    n = str(args.connections)

    def model_fetch(r: int) -> tuple[float, int]:
        store = out / "store"
        shutil.rmtree(store, ignore_errors=True)
        cmd, env = mf_cmd(args.src, store, "download", "bench", "--version", f"r{r}", "--url", url,
                          "--checksum", f"sha256:{sha}", "--connections", n)  # fmt: skip
        try:
            s, rss, _ = timed_rss(cmd, env=env)
        finally:
            shutil.rmtree(store, ignore_errors=True)
        return s, rss

    def aria2c(_r: int) -> tuple[float, int]:
        cmd = ["aria2c", "-q", f"-x{n}", f"-s{n}", "-k1M", "--file-allocation=none",
               f"--checksum=sha-256={sha}", "-d", str(out), "-o", "aria.out", url]  # fmt: skip
        try:
            return timed_rss(cmd)[:2]
        finally:
            bd.remove(out / "aria.out")

    def hf_transfer(_r: int) -> tuple[float, int]:
        target = out / "hf.out"
        try:
            s, rss, text = timed_rss([args.hf_python, "-c", HF_SCRIPT, url, str(target), n])
        finally:
            bd.remove(target)
        if sha not in text:
            raise bd.BenchError("digest mismatch")
        return s, rss

    def fio(_r: int) -> tuple[float, int]:
        return fio_write(out / "fio.dat", args.cap_size_mib * MIB)

    clients: dict[str, Any] = {"model_fetch": model_fetch, "fio_direct": fio}
    if shutil.which("aria2c"):
        clients["aria2c"] = aria2c
    if args.hf_python:
        clients["hf_transfer"] = hf_transfer
    run.rounds(clients, args.rounds)
    return run


#: How the installed ``model-fetch`` script starts the CLI (what the start-up rows time).
CLI_ENTRY = "import sys; from model_fetch.cli import main; sys.exit(main())"


class FirstRequestServer:
    """A loopback HTTP server that serves one file and notes when each request line arrives.

    The arrival is read on this process's monotonic clock as the request line has been read,
    before its headers, so a client launched from here is timed on the same clock.
    """

    def __init__(self, body: bytes) -> None:
        """Bind 127.0.0.1 on a free port; serve ``body`` to every GET."""
        arrivals: list[float] = []
        self.arrivals = arrivals

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def parse_request(self) -> bool:
                arrivals.append(time.monotonic())
                return super().parse_request()

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/{bd.FILE_NAME}"

    def first_request_after(self, start: float) -> float:
        """Seconds from ``start`` to the first request line that arrived after it."""
        later = [t for t in self.arrivals if t >= start]
        if not later:
            raise bd.BenchError("the download sent no request")
        return min(later) - start

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def startup_part(args: argparse.Namespace, work: Path, url: str, sha: str) -> Runner:
    run = Runner("start-up")
    store = work / "startup-store"
    env = {**os.environ, "PYTHONPATH": str(args.src)}
    cli = [sys.executable, "-c", CLI_ENTRY, "--store", str(store)]
    fetch = [*cli, "download", "small", "--url", url, "--checksum", f"sha256:{sha}"]
    timed_rss(fetch, env=env)  # the install a cache hit finds
    hit = [*fetch, "--if-exists", "reuse"]
    body = (work / f"www-small/{bd.FILE_NAME}").read_bytes()
    server = FirstRequestServer(body)
    fresh = work / "startup-fresh"

    def first_request(r: int) -> tuple[float, int]:
        shutil.rmtree(fresh, ignore_errors=True)
        cmd = [sys.executable, "-c", CLI_ENTRY, "--store", str(fresh), "download", "fresh",
               "--version", f"r{r}", "--url", server.url, "--checksum", sha]  # fmt: skip
        start = time.monotonic()
        try:
            _, rss, _ = timed_rss(cmd, env=env)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        return server.first_request_after(start), rss

    def process(cmd: list[str]) -> Any:
        return lambda _r: timed_rss(cmd, env=env)[:2]

    clients = {
        "python -c pass": process([sys.executable, "-c", "pass"]),
        "python -I -S -c pass": process([sys.executable, "-I", "-S", "-c", "pass"]),
        "import model_fetch": process([sys.executable, "-c", "import model_fetch"]),
        "model-fetch --help": process([*cli, "--help"]),
        "cache-hit download": process(hit),
        "first request": first_request,
    }
    try:
        run.rounds(clients, args.startup_runs)
    finally:
        server.stop()
    return run


STARTUP_TARGETS = (
    ("import model_fetch", "`import model_fetch`", 50),
    ("cache-hit download", "cache-hit `model-fetch download`", 120),
    ("first request", "`model-fetch download` to its first request", 80),
)


def startup_targets(s: Runner) -> list[tuple[str, str]]:
    """The start-up targets, each also shown above the interpreter's own start."""
    floor = s.median("python -c pass")
    targets = []
    for name, label, bound in STARTUP_TARGETS:
        value = s.median(name)
        text = bounded(value and value * 1000, "ms", f"< {bound}")
        if value is not None and floor is not None:
            text += f"; {(value - floor) * 1000:.1f} ms above `python -c pass`"
        targets.append((f"start-up: {label}", text))
    return targets


def verdict(value: float | None, target: float) -> str:
    """A ratio with pass/short against its target."""
    if value is None:
        return "n/a"
    return f"{value:.2f} ({'pass' if value >= target else 'short'}, target ≥ {target:g})"


def ratio(top: float | None, bottom: float | None) -> float | None:
    """``top / bottom`` when both were measured."""
    return top / bottom if top and bottom else None


def bounded(value: float | None, unit: str, limit: str) -> str:
    """A measured value beside its bound."""
    return f"{value:.1f} {unit} (target {limit})" if value else "n/a"


LABELS = {
    "curl_openssl": "`curl -s URL | openssl dgst -sha256` (network + hash)",
    "fio_direct": "`fio --direct=1 --iodepth=8 --bs=4M --end_fsync=1` (the disk, durable)",
    "model_fetch": "`model-fetch download --checksum` (durable)",
    "model_fetch_baseline": "the same, from the baseline source tree",
    "curl_tee_sync": "`curl | tee OUT | openssl dgst -sha256 && sync OUT` (durable peer)",
    "aria2c": "`aria2c -xN -sN --checksum`",
    "hf_transfer": "hf_transfer 0.1.9 (`max_files=N`) + sha256 + fsync",
    "python -c pass": "`python -c pass` (the interpreter)",
    "python -I -S -c pass": "`python -I -S -c pass` (the interpreter, no site-packages)",
    "cache-hit download": "cache-hit `model-fetch download`",
    "first request": "`model-fetch download`: `Popen` to its first request line",
}


def table(run: Runner, title: str, *, scale: float = 1.0, unit: str = "s") -> list[str]:
    """One part's rows: median, spread and peak RSS per client, then its failures."""
    lines = ["", f"| {title} | median {unit} | min-max {unit} | peak RSS MiB |"]
    lines.append("|---|---:|---:|---:|")
    digits = 0 if scale > 1 else 3
    for name, runs in run.runs.items():
        secs = [x * scale for x, _ in runs]
        label = LABELS.get(name, f"`{name}`").replace("|", "\\|")
        lines.append(
            f"| {label} | {statistics.median(secs):.{digits}f} | "
            f"{min(secs):.{digits}f}-{max(secs):.{digits}f} | {run.rss_mib(name) or 0:.0f} |"
        )
    lines.extend(f"| {name} | failed: {why[:80]} | | |" for name, why in run.errors.items())
    return lines


def durable_targets(d: Runner) -> list[tuple[str, str]]:
    """The 1 GiB targets: against the machine's limit and the durable peer."""
    mf = d.median("model_fetch")
    measured = [x for x in (d.median("curl_openssl"), d.median("fio_direct")) if x]
    limit = max(measured) if measured else None
    peer = d.median("curl_tee_sync")
    targets = [
        ("durable: limit ÷ model_fetch", verdict(ratio(limit, mf), 0.9)),
        ("durable: durable peer ÷ model_fetch", verdict(ratio(peer, mf), 1.3)),
        ("1 connection: model_fetch peak RSS", bounded(d.rss_mib("model_fetch"), "MiB", "≤ 40")),
    ]
    if (base := ratio(d.median("model_fetch_baseline"), mf)) is not None:
        targets.append(("durable: baseline ÷ model_fetch (above 1: faster than the base)", f"{base:.2f}"))  # fmt: skip # noqa: E501
    return targets


def capped_targets(c: Runner, cap: float) -> list[tuple[str, str]]:
    """The capped targets: against the cap, hf_transfer and aria2c, and the memory bound."""
    cmf = c.median("model_fetch")
    targets = [("capped: cap ÷ model_fetch", verdict(ratio(cap, cmf), 0.85))]
    if (disk := c.median("fio_direct")) is not None:
        # Not a target of the issue: where the disk is slower than the cap, it is the limit.
        limit = max(cap, disk)
        targets.append(("capped: max(cap, fio) ÷ model_fetch (the machine's limit)", f"{ratio(limit, cmf):.2f}"))  # fmt: skip # noqa: E501
    for peer, target in (("hf_transfer", 1.3), ("aria2c", 1.5)):
        targets.append((f"capped: {peer} ÷ model_fetch", verdict(ratio(c.median(peer), cmf), target)))  # fmt: skip # noqa: E501
    targets.append(("capped: model_fetch peak RSS", bounded(c.rss_mib("model_fetch"), "MiB", "≤ 48")))  # fmt: skip # noqa: E501
    return targets


def report(args: argparse.Namespace, parts: dict[str, Runner], info: dict[str, Any]) -> str:
    """The run as Markdown: the machine, one table per part, and the targets."""
    machine = info["machine"]
    intro = (
        f"Run {info['date']} on {machine['cpu_model']} ({machine['nproc']} cores, SHA-NI "
        f"{machine['cpu_sha_ni']}); load average {info['load_before']} before and "
        f"{info['load_after']} after. {_load_note(info)}Every ratio comes from the same "
        f"{args.rounds} alternating rounds (medians). N = {args.connections}."
    )
    lines = [intro]
    d, c, s = parts["durable"], parts.get("capped"), parts.get("startup")
    lines += table(d, f"{args.size_mib} MiB, sha256 verified")
    targets = durable_targets(d)
    if c is not None:
        lines += table(c, f"{args.cap_size_mib} MiB, `limit_rate {args.limit_rate}`, N connections")
        cap = args.cap_size_mib * MIB / (args.connections * parse_rate(args.limit_rate))
        lines.append(f"| the cap: size ÷ (N x rate) | {cap:.3f} | | |")
        targets += capped_targets(c, cap)
    if s is not None:
        lines += table(s, "start-up (fresh process)", scale=1000, unit="ms")
        targets += startup_targets(s)
    lines += ["", "| target | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in targets]
    return "\n".join(lines)


def _load_note(info: dict[str, Any]) -> str:
    """A warning when something else kept the CPUs busy as the run started.

    The load after the run is mostly the run's own clients, so only the one before counts: a
    1-minute average of 2 or more means another job held both cores of a 2-core machine.
    """
    if float(str(info["load_before"]).split("/")[0]) < 2.0:
        return "Nothing else ran on the machine. "
    return (
        "**Other work shared the machine** (1-minute load average of 2 or more before the run), "
        "so absolute times are inflated and noisy. "
    )


def parse_rate(rate: str) -> float:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return float(rate[:-1]) * units[rate[-1].lower()] if rate[-1].lower() in units else float(rate)


def serve(work: Path, name: str, limit_rate: str | None, size_mib: int) -> tuple[bd.Nginx, str]:
    www = work / f"www-{name}"
    www.mkdir()
    sha = bd.make_test_file(www / bd.FILE_NAME, size_mib)
    bd.warm_page_cache(www / bd.FILE_NAME)
    nginx = bd.Nginx(work=work / f"nginx-{name}", root=www, limit_rate=limit_rate)
    nginx.work.mkdir()
    nginx.start(bd.FILE_NAME, size_mib * MIB)
    return nginx, sha


def publish(
    section: str,
    args: argparse.Namespace,
    parts: dict[str, Runner],
    info: dict[str, Any],
    report: Callable[[argparse.Namespace, dict[str, Runner], dict[str, Any]], str],
) -> None:
    """Print the run's report; write its raw timings (``--out``) and docs (``--write-docs``)."""
    info["load_after"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    table = report(args, parts, info)
    print(table)
    if args.out:
        raw = {k: {"runs": v.runs, "errors": v.errors} for k, v in parts.items()}
        args.out.write_text(json.dumps({"info": info, "parts": raw}, indent=2, default=str))
    if args.write_docs:
        docs_output.write_section(section, table)
        docs_output.write_section(section, table, page=README)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cap-size-mib", type=int, default=256)
    parser.add_argument("--limit-rate", default="50m")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--startup-runs", type=int, default=15)
    parser.add_argument("--hf-python", help="a Python with hf_transfer installed")
    parser.add_argument("--src", type=Path, default=SRC, help="the src/ tree to time")
    parser.add_argument("--baseline-src", help="another src/ tree to time in the same rounds")
    parser.add_argument("--only", default="", help="comma list of durable clients to run")
    parser.add_argument("--skip", default="", help="comma list of parts: capped,startup")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    for tool in ("fio", "curl", "openssl"):
        if shutil.which(tool) is None:
            print(f"{tool} not found (apt-get install -y fio curl openssl)", file=sys.stderr)
            return 2
    skip = set(filter(None, args.skip.split(",")))
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bd.machine_info(),
        "load_before": "/".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    parts: dict[str, Runner] = {}
    servers: list[bd.Nginx] = []
    with bd.scratch_dir(args.tmpdir, keep=False) as work:
        try:
            nginx, sha = serve(work, "durable", None, args.size_mib)
            servers.append(nginx)
            url = nginx.url(bd.FILE_NAME)
            parts["durable"] = durable_part(args, work, url, sha)
            if "capped" not in skip:
                capped, csha = serve(work, "capped", args.limit_rate, args.cap_size_mib)
                servers.append(capped)
                parts["capped"] = capped_part(args, work, capped.url(bd.FILE_NAME), csha)
            if "startup" not in skip:
                small, ssha = serve(work, "small", None, 1)
                servers.append(small)
                parts["startup"] = startup_part(args, work, small.url(bd.FILE_NAME), ssha)
        finally:
            for server in servers:
                server.stop()
    publish("limits", args, parts, info, report)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
