#!/usr/bin/env python3
# Copyright (c) 2026 model_fetch developers. Licensed under the MIT License.
"""Benchmark a fleet: N processes installing one model at once, with and without a mirror.

Each node is a separate ``model-fetch download`` process with its own local store. The origin is
the test suite's FileServer on 127.0.0.1 with a per-connection rate cap (like nginx
``limit_rate``), counting the body bytes it serves. The mirror is an S3 bucket on moto's
standalone server (a fresh server per run, so memory does not pile up). The headline figure is
the origin bytes served for each N; wall time is reported too.

moto is far slower than real S3 (about 33 MB/s per stream here, in one Python process), so the
wall times with the mirror understate it.

Usage::

    python benchmarks/bench_fleet.py [--size-mib 256] [--nodes 1 2 4 8] [--rate-mib 64]
        [--markdown docs/benchmarks-fleet.md] [--chart docs/images/fleet.svg]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

from support.s3 import MotoServer  # noqa: E402 - the test support lives under tests/
from support.server import FileServer  # noqa: E402

MIB = 1 << 20


def make_model(size_mib: int) -> tuple[bytes, str]:
    """Incompressible-looking bytes and their sha256."""
    block = os.urandom(MIB)
    data = b"".join(
        i.to_bytes(8, "little") + block[8:] for i in range(size_mib)
    )  # distinct MiB blocks
    return data, hashlib.sha256(data).hexdigest()


def run_fleet(
    n: int,
    *,
    mirror: bool,
    origin: FileServer,
    digest: str,
    workdir: Path,
    lease_ttl: float,
) -> dict[str, float]:
    """Start n nodes at once; return wall seconds and origin bytes."""
    moto = MotoServer().start() if mirror else None
    try:
        env = {**os.environ, "MODEL_FETCH_LEASE_TTL": str(lease_ttl)}
        extra: list[str] = []
        if moto is not None:
            env.update(moto.env)
            bucket = moto.new_bucket()
            extra = ["--mirror", f"s3://{bucket}/mirror"]
        before = origin.bytes_sent
        started = time.monotonic()
        nodes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "model_fetch",
                    "-q",
                    "--store",
                    str(workdir / f"{'m' if mirror else 'o'}{n}-node{i}"),
                    *extra,
                    "download",
                    "bench/model",
                    "--version",
                    "v1",
                    "--url",
                    origin.url("/model.bin"),
                    "--checksum",
                    digest,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(n)
        ]
        for node in nodes:
            _out, err = node.communicate(timeout=3600)
            if node.returncode != 0:
                raise SystemExit(f"a node failed: {err}")
        wall = time.monotonic() - started
        return {"wall_s": wall, "origin_bytes": origin.bytes_sent - before}
    finally:
        if moto is not None:
            moto.stop()


def markdown(results: list[dict[str, object]], args: argparse.Namespace) -> str:
    """The results page."""
    size = args.size_mib * MIB
    lines = [
        "# Fleet benchmark: origin bytes with and without a mirror",
        "",
        (
            f"N processes install one {args.size_mib} MiB model at once, each into its own "
            f"local store, from a local origin capped at {args.rate_mib:g} MiB/s per connection "
            "(the test FileServer, like nginx `limit_rate`). With the mirror, the nodes share "
            "an S3 bucket on moto's standalone server. Measured with `python "
            f"benchmarks/bench_fleet.py --size-mib {args.size_mib} --rate-mib {args.rate_mib:g}`"
            f" on {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {dt.datetime.now(dt.UTC):%Y-%m-%d}; one run."
        ),
        "",
        "| N | mirror | origin bytes served | model sizes | wall time (s) |",
        "|---|---|---|---|---|",
    ]
    for row in results:
        origin = int(row["origin_bytes"])  # type: ignore[call-overload]
        lines.append(
            f"| {row['n']} | {'yes' if row['mirror'] else 'no'} | {origin / MIB:,.0f} MiB "
            f"| {origin / size:.2f} | {float(row['wall_s']):.1f} |"  # type: ignore[arg-type]
        )
    lines += [
        "",
        "![Origin bytes and wall time per N](images/fleet.svg)",
        "",
        (
            "**Headline:** with the mirror the origin serves one model's worth whatever N is; "
            "without it, N models' worth."
        ),
        "",
        (
            "**Read the wall times with care.** moto is a single Python process that keeps "
            "objects in memory and moves about 33 MB/s per stream here, far slower than real "
            "S3, and the nodes, moto and the origin share two CPU cores. With the mirror, the "
            "wall time is one origin download, one upload to moto and N - 1 copies down from "
            "it, all served by that one moto process, so it grows with N and understates what "
            "a real bucket gives; without it, every node downloads at the capped rate in "
            "parallel, which is the best case for the origin and the worst for its bill."
        ),
        "",
    ]
    return "\n".join(lines)


def chart(results: list[dict[str, object]], path: Path, size_mib: int) -> None:
    """Grouped bars: origin MiB (left) and wall seconds (right) per N."""
    import matplotlib as mpl  # noqa: PLC0415 - only the chart needs it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ns = sorted({int(r["n"]) for r in results})  # type: ignore[call-overload]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    width = 0.38
    for offset, mirror, label in ((-width / 2, False, "no mirror"), (width / 2, True, "mirror")):
        rows = {int(r["n"]): r for r in results if r["mirror"] is mirror}  # type: ignore[call-overload]
        xs = [i + offset for i in range(len(ns))]
        left.bar(xs, [int(rows[n]["origin_bytes"]) / MIB for n in ns], width, label=label)  # type: ignore[call-overload]
        right.bar(xs, [float(rows[n]["wall_s"]) for n in ns], width, label=label)  # type: ignore[arg-type]
    for axis, title in ((left, "origin MiB served"), (right, "wall time (s)")):
        axis.set_xticks(range(len(ns)), [str(n) for n in ns])
        axis.set_xlabel("processes (N)")
        axis.set_title(title)
    left.axhline(size_mib, color="grey", linewidth=0.8, linestyle="--")
    left.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--rate-mib", type=float, default=64.0, help="per-connection cap")
    parser.add_argument("--lease-ttl", type=float, default=10.0)
    parser.add_argument("--markdown", type=Path, help="write the results page here")
    parser.add_argument("--chart", type=Path, help="write the SVG chart here")
    args = parser.parse_args()
    data, digest = make_model(args.size_mib)
    results: list[dict[str, object]] = []
    with FileServer().start() as origin, tempfile.TemporaryDirectory() as tmp:
        origin.add_file("/model.bin", data)
        origin.rate_limit = args.rate_mib * MIB
        for n in args.nodes:
            for mirror in (False, True):
                row = run_fleet(
                    n,
                    mirror=mirror,
                    origin=origin,
                    digest=digest,
                    workdir=Path(tmp),
                    lease_ttl=args.lease_ttl,
                )
                results.append({"n": n, "mirror": mirror, **row})
                print(
                    f"N={n} mirror={mirror!s:5} origin={row['origin_bytes'] / MIB:8.0f} MiB "
                    f"wall={row['wall_s']:6.1f} s",
                    flush=True,
                )
                subprocess.run(["rm", "-rf", *Path(tmp).glob("*")], check=False)
    if args.markdown:
        args.markdown.write_text(markdown(results, args))
    if args.chart:
        chart(results, args.chart, args.size_mib)


if __name__ == "__main__":
    main()
