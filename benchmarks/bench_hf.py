#!/usr/bin/env python3
# Copyright (c) 2026 model_fetch developers. Licensed under the MIT License.
"""Measure the Hugging Face source against huggingface_hub on a local test hub, in one run.

The test hub of the test suite (``tests/support/hfhub.py``) answers the metadata (model info, the
paginated tree, ``resolve`` with ``X-Repo-Commit``/``ETag``) and serves the small regular files;
``resolve`` of an LFS file answers 302 to a private nginx on 127.0.0.1 that serves the blobs out
of the page cache, as the real Hub redirects to its CDN. So every client takes the large bytes
from nginx, and the Python hub only pays for metadata and small files, for every client alike.

Two scenarios, whole processes, rotating order each round, ``sync()`` (untimed) before each run,
medians:

- **single**: one LFS file (``--lfs-size-mib``, 1 GiB): ``model-fetch download REPO --source
  huggingface`` against ``hf_hub_download`` plus the sha256 pass and fsync a user needs to trust
  the file (huggingface_hub checks sizes only);
- **snapshot**: ``--files`` LFS files of ``--file-size-mib`` (20 x 50 MiB) and ``--small-files``
  regular files (200): ``model-fetch download`` against ``snapshot_download(max_workers=8)``
  plus a sha256 of every LFS file and an fsync of every file, on 8 threads.

model_fetch runs with its own store and with ``--store hf-cache:DIR`` (the layout
huggingface_hub reads). It prints each target of issue 16 (huggingface_hub ÷ model_fetch ≥ 1.5)
with pass/short, the peak RSS of every process (``wait4``), and with ``--write-docs`` writes the
tables into docs/benchmarks.md and benchmarks/README.md (between ``<!-- bench:hf -->`` markers).
Usage::

    python benchmarks/bench_hf.py [--lfs-size-mib 1024] [--files 20] [--file-size-mib 50]
        [--small-files 200] [--rounds 5] [--write-docs] [--out results.json] [--tmpdir DIR]

Requires nginx (``/usr/sbin/nginx``) and huggingface_hub 2.x in this interpreter; the peers get
``HF_HUB_DISABLE_XET=1`` (the test hub speaks plain HTTP only).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test hub

import bench_download as bd  # nginx, test data, machine info
import bench_limits as bl  # the rounds, wait4 timing, verdicts

from support.hfhub import HubFile, TestHub

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MIB = bd.MIB
SRC = bd.REPO_ROOT / "src"
WARM, SINGLE, SNAPSHOT = "bench/warm", "bench/single", "bench/snapshot"
TARGET = 1.5

# The peers: what a user of huggingface_hub writes to get files they can trust. argv[1] is a
# JSON document: the repo, the cache, and the sha256 of every LFS file.
PEER_PRELUDE = """
import hashlib, json, os, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
job = json.loads(sys.argv[1])

def trust(path, sha256):
    if sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as fh:
            while block := fh.read(4 << 20):
                digest.update(block)
        if digest.hexdigest() != sha256:
            sys.exit(f"sha256 mismatch: {path}")
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
"""
HF_HUB_DOWNLOAD = (
    PEER_PRELUDE
    + """
from huggingface_hub import hf_hub_download
path, sha256 = next(iter(job["lfs"].items()))
trust(hf_hub_download(job["repo"], path, cache_dir=job["cache"]), sha256)
"""
)
SNAPSHOT_DOWNLOAD = (
    PEER_PRELUDE
    + """
from huggingface_hub import snapshot_download
root = Path(snapshot_download(job["repo"], cache_dir=job["cache"], max_workers=8))
files = [p for p in root.rglob("*") if p.is_file()]
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda p: trust(p, job["lfs"].get(p.relative_to(root).as_posix())), files))
print(len(files))
"""
)

LABELS = {
    "model_fetch": "`model-fetch download --source huggingface`",
    "model_fetch_hf_cache": "the same, `--store hf-cache:DIR`",
    "hf_hub_download": "`hf_hub_download` + sha256 + fsync",
    "snapshot_download": "`snapshot_download(max_workers=8)` + sha256 of each LFS file + fsync (8 threads)",  # noqa: E501
}


# --------------------------------------------------------------------------- the test repos


@dataclass(frozen=True)
class Entry:
    """One file of a test repo, on disk under the scratch directory (never held in memory)."""

    path: str
    size: int
    sha256: str
    lfs: bool
    blob: str


def safetensors_file(www: Path, path: str, size_mib: int) -> Entry:
    """A valid safetensors file of one U8 tensor of ``size_mib`` MiB of distinct pages.

    The payload is :func:`bench_download.make_test_file`'s (no two 4 KiB pages equal, so nothing
    compresses or deduplicates). It is streamed to ``www/blobs/{sha256}``, where nginx serves it.
    """
    raw = www / "payload.tmp"
    bd.make_test_file(raw, size_mib)
    n = raw.stat().st_size
    header = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
    header += b" " * (-len(header) % 8)
    staged = www / "blob.tmp"
    with staged.open("wb") as out, raw.open("rb") as payload:
        out.write(len(header).to_bytes(8, "little") + header)
        shutil.copyfileobj(payload, out, 4 * MIB)
    raw.unlink()
    sha = bd.sha256_file(staged)
    blob = www / "blobs" / sha
    staged.rename(blob)
    return Entry(path=path, size=blob.stat().st_size, sha256=sha, lfs=True, blob=str(blob))


def small_file(www: Path, path: str, size: int) -> Entry:
    """A regular (non-LFS) text file of ``size`` bytes, served by the hub itself."""
    blob = www / "small" / path
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(os.urandom(size // 2 + 1).hex()[:size].encode())
    return Entry(path=path, size=size, sha256=bd.sha256_file(blob), lfs=False, blob=str(blob))


def build_repos(args: argparse.Namespace, www: Path) -> dict[str, list[Entry]]:
    """The warm-up repo, the single-file repo and the snapshot repo (LFS and regular files)."""
    (www / "blobs").mkdir(parents=True)
    repos = {WARM: [safetensors_file(www, "model.safetensors", 1)]}
    if "single" not in args.skip:
        repos[SINGLE] = [safetensors_file(www, "model.safetensors", args.lfs_size_mib)]
    if "snapshot" not in args.skip:
        files = [
            safetensors_file(www, f"model-{i + 1:05d}-of-{args.files:05d}.safetensors", size)
            for i, size in enumerate([args.file_size_mib] * args.files)
        ]
        files += [
            small_file(www, f"extra/part-{i:04d}.txt", args.small_kib * 1024)
            for i in range(args.small_files)
        ]
        repos[SNAPSHOT] = files
    return repos


def serve_hub(manifest: Path) -> None:
    """The hub process: load the repos, print the endpoint and commits, serve until stdin closes.

    The hub holds every file in memory, so it runs apart from the benchmark: a child inherits the
    peak RSS of the process it was started from (``ru_maxrss`` survives exec), and the clients'
    figures would otherwise include the hub's gigabytes.
    """
    spec = json.loads(manifest.read_text())
    with TestHub(page_size=1000, cdn_base_url=spec["cdn"]) as hub:
        commits = {
            repo: hub.add_repo(
                repo,
                [
                    HubFile(path=e["path"], data=Path(e["blob"]).read_bytes(), lfs=e["lfs"])
                    for e in entries
                ],
            )
            for repo, entries in spec["repos"].items()
        }
        print(json.dumps({"endpoint": hub.endpoint, "commits": commits}), flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def hub_process(work: Path, repos: dict[str, list[Entry]], cdn: str) -> Iterator[dict[str, Any]]:
    """Run :func:`serve_hub` in a child process; yield what it printed."""
    manifest = work / "hub.json"
    doc = {"cdn": cdn, "repos": {r: [asdict(e) for e in entries] for r, entries in repos.items()}}
    manifest.write_text(json.dumps(doc))
    cmd = [sys.executable, __file__, "--serve-hub", str(manifest)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None  # noqa: S101
        assert proc.stdout is not None  # noqa: S101
        try:
            line = proc.stdout.readline()
            if not line:
                raise bd.BenchError("the test hub did not start")
            yield json.loads(line)
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


# --------------------------------------------------------------------------- the clients


def client_env(endpoint: str, home: Path) -> dict[str, str]:
    """The environment of every client: this hub, no token, no Xet, no mirror, no telemetry."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGING", "MODEL_FETCH_")) and "PROXY" not in k.upper()
    }
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(home),  # no stored token from the user's own login
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="*",
    )
    return env


def check_install(root: Path, files: list[Entry]) -> None:
    """Untimed: every file of the repo is under ``root`` with its size (and LFS files' sha256)."""
    for file in files:
        path = root / file.path if root.is_dir() else root
        if not path.is_file() or path.stat().st_size != file.size:
            raise bd.BenchError(f"{file.path}: missing or wrong size under {root}")
        if file.lfs and bd.sha256_file(path) != file.sha256:
            raise bd.BenchError(f"{file.path}: sha256 mismatch after a reported success")


def model_fetch_client(
    src: Path, out: Path, env: dict[str, str], repo: str, files: list[Entry], *, hf_cache: bool
) -> Callable[[int], tuple[float, int]]:
    """``model-fetch download REPO --source huggingface`` into a fresh store each round."""

    def run(_round: int) -> tuple[float, int]:
        store = out / ("mf-hf-cache" if hf_cache else "mf-store")
        shutil.rmtree(store, ignore_errors=True)
        where = f"hf-cache:{store}" if hf_cache else str(store)
        cmd = [sys.executable, "-m", "model_fetch", "--store", where, "-q", "download", repo,
               "--source", "huggingface", "--version", "main", "--json"]  # fmt: skip
        try:
            seconds, rss, text = bl.timed_rss(cmd, env={**env, "PYTHONPATH": str(src)})
            check_install(Path(json.loads(text)["file_path"]), files)
        finally:
            shutil.rmtree(store, ignore_errors=True)
        return seconds, rss

    return run


def peer_client(
    script: str, out: Path, env: dict[str, str], repo: str, files: list[Entry]
) -> Callable[[int], tuple[float, int]]:
    """A huggingface_hub script in a fresh process and a fresh cache each round."""

    def run(_round: int) -> tuple[float, int]:
        cache = out / "hf-cache"
        shutil.rmtree(cache, ignore_errors=True)
        job = {"repo": repo, "cache": str(cache), "lfs": {f.path: f.sha256 for f in files if f.lfs}}
        try:
            seconds, rss, _ = bl.timed_rss([sys.executable, "-c", script, json.dumps(job)], env=env)
            snapshots = list((cache / f"models--{repo.replace('/', '--')}" / "snapshots").iterdir())
            check_install(snapshots[0] / (files[0].path if len(files) == 1 else ""), files)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        return seconds, rss

    return run


def scenario(
    args: argparse.Namespace, endpoint: str, work: Path, *, repo: str, files: list[Entry]
) -> bl.Runner:
    """One scenario's rounds: model_fetch (both stores) and its huggingface_hub peer."""
    name = "single" if repo == SINGLE else "snapshot"
    out = work / f"out-{name}"
    out.mkdir()
    env = client_env(endpoint, work / "hf-home")
    peer, script = (
        ("hf_hub_download", HF_HUB_DOWNLOAD) if repo == SINGLE else
        ("snapshot_download", SNAPSHOT_DOWNLOAD)
    )  # fmt: skip
    clients = {
        "model_fetch": model_fetch_client(args.src, out, env, repo, files, hf_cache=False),
        peer: peer_client(script, out, env, repo, files),
    }
    if "hf_cache" not in args.skip:
        clients["model_fetch_hf_cache"] = model_fetch_client(
            args.src, out, env, repo, files, hf_cache=True
        )
    run = bl.Runner(name)
    run.rounds(clients, args.rounds)
    return run


def warm_up(args: argparse.Namespace, endpoint: str, work: Path, files: list[Entry]) -> None:
    """Untimed: each client once on a 1 MiB repo (interpreters, imports, nginx, the hub)."""
    out = work / "out-warm"
    out.mkdir()
    env = client_env(endpoint, work / "hf-home")
    model_fetch_client(args.src, out, env, WARM, files, hf_cache=False)(0)
    peer_client(HF_HUB_DOWNLOAD, out, env, WARM, files)(0)
    shutil.rmtree(out)


# --------------------------------------------------------------------------- the report


def scenario_table(run: bl.Runner, title: str, size: int) -> list[str]:
    """Median, spread, throughput (MB = 10^6 bytes) and peak RSS per client, then failures."""
    lines = ["", f"| {title} | median s | min-max s | MB/s | peak RSS MiB |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, runs in run.runs.items():
        secs = [s for s, _ in runs]
        med = statistics.median(secs)
        label = LABELS.get(name, f"`{name}`").replace("|", "\\|")
        lines.append(
            f"| {label} | {med:.3f} | {min(secs):.3f}-{max(secs):.3f} | "
            f"{size / bd.MB / med:,.0f} | {run.rss_mib(name) or 0:.0f} |"
        )
    lines.extend(f"| {name} | failed: {why[:80]} | | | |" for name, why in run.errors.items())
    return lines


def targets(parts: dict[str, bl.Runner]) -> list[tuple[str, str]]:
    """huggingface_hub ÷ model_fetch per scenario (target ≥ 1.5), both stores."""
    found = []
    for name, peer in (("single", "hf_hub_download"), ("snapshot", "snapshot_download")):
        run = parts.get(name)
        if run is None:
            continue
        for client, store in (("model_fetch", "own store"), ("model_fetch_hf_cache", "hf-cache")):
            if client in run.runs or client in run.errors:
                value = bl.ratio(run.median(peer), run.median(client))
                found.append((f"{name}: `{peer}` ÷ model_fetch ({store})", bl.verdict(value, TARGET)))  # fmt: skip # noqa: E501
    return found


def report(args: argparse.Namespace, parts: dict[str, bl.Runner], info: dict[str, Any]) -> str:
    """The run as Markdown: the machine, one table per scenario, and the targets."""
    machine = info["machine"]
    given = [a for a in info["argv"] if a != str(args.out)] if args.out else info["argv"]
    given = [a for a in given if a != "--out"]
    intro = (
        f"Command: `python benchmarks/bench_hf.py {' '.join(given)}`. "
        f"Run {info['date']} on {machine['cpu_model']} ({machine['nproc']} cores, SHA-NI "
        f"{machine['cpu_sha_ni']}), huggingface_hub {info['huggingface_hub']}; load average "
        f"{info['load_before']} before and {info['load_after']} after. Medians of "
        f"{args.rounds} rounds in rotating order; MB = 10^6 bytes."
    )
    lines = [intro]
    if "single" in parts:
        size = args.lfs_size_mib * MIB
        lines += scenario_table(parts["single"], f"one {args.lfs_size_mib} MiB LFS file", size)
    if "snapshot" in parts:
        size = args.files * args.file_size_mib * MIB + args.small_files * args.small_kib * 1024
        title = (
            f"snapshot: {args.files} x {args.file_size_mib} MiB LFS + "
            f"{args.small_files} x {args.small_kib} KiB regular files"
        )
        lines += scenario_table(parts["snapshot"], title, size)
    lines += ["", "| target | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in targets(parts)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--lfs-size-mib", type=int, default=1024, help="the single LFS file")
    parser.add_argument("--files", type=int, default=20, help="LFS files of the snapshot")
    parser.add_argument("--file-size-mib", type=int, default=50, help="size of each of them")
    parser.add_argument("--small-files", type=int, default=200, help="regular files of it")
    parser.add_argument("--small-kib", type=int, default=4, help="size of each of them")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--src", type=Path, default=SRC, help="the src/ tree to time")
    parser.add_argument("--skip", default="", help="comma list of: single,snapshot,hf_cache")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, help="write raw timings and the machine as JSON")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--serve-hub", type=Path, help=argparse.SUPPRESS)  # the hub process
    args = parser.parse_args(argv)
    args.skip = set(filter(None, args.skip.split(",")))
    if args.rounds < 1 or min(args.lfs_size_mib, args.files, args.file_size_mib) < 1:
        parser.error("--rounds, --lfs-size-mib, --files and --file-size-mib must be at least 1")
    return args


def check_free_space(args: argparse.Namespace, work: Path) -> None:
    """The blobs, one client's copy of the larger repo, and slack."""
    single = 0 if "single" in args.skip else args.lfs_size_mib
    snapshot = 0 if "snapshot" in args.skip else args.files * args.file_size_mib
    need = (single + snapshot + max(single, snapshot) + 256) * MIB
    if shutil.disk_usage(work).free < need:
        raise bd.BenchError(f"{need // MIB} MiB needed in {work} (use --tmpdir)")


def run(args: argparse.Namespace, work: Path, info: dict[str, Any]) -> dict[str, bl.Runner]:
    check_free_space(args, work)
    www = work / "www"
    bd.log("writing the test repositories ...")
    repos = build_repos(args, www)
    first = next(f for files in repos.values() for f in files if f.lfs)
    nginx = bd.Nginx(work=work / "nginx", root=www)
    nginx.work.mkdir()
    parts: dict[str, bl.Runner] = {}
    try:
        nginx.start(f"blobs/{first.sha256}", first.size)
        for blob in (www / "blobs").iterdir():
            bd.warm_page_cache(blob)
        with hub_process(work, repos, nginx.url("blobs")) as hub:
            info["commits"] = hub["commits"]
            warm_up(args, hub["endpoint"], work, repos.pop(WARM))
            for repo, files in repos.items():
                part = scenario(args, hub["endpoint"], work, repo=repo, files=files)
                parts[part.name] = part
    finally:
        nginx.stop()
    return parts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_hub:
        serve_hub(args.serve_hub)
        return 0
    if not os.access(bd.NGINX, os.X_OK):
        print(f"nginx not found at {bd.NGINX} (apt-get install -y nginx)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, bd._raise_on_sigterm)  # noqa: SLF001 - the sibling's handler
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bd.machine_info(),
        "huggingface_hub": bd.dist_version("huggingface_hub"),
        "load_before": "/".join(f"{x:.1f}" for x in os.getloadavg()),
        "argv": sys.argv[1:] if argv is None else argv,
    }
    try:
        with bd.scratch_dir(args.tmpdir, keep=False) as work:
            parts = run(args, work, info)
    except bd.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bl.publish("hf", args, parts, info, report)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
