"""Running a probe script in a subprocess with a timeout and an address-space limit.

The torch check and the format-library checks both load untrusted bytes with a library that
may crash, hang or allocate without bound; each does so in a child process of our own
interpreter (``python -P``, no shell), which caps its own address space as its first action and
writes one JSON line per file, flushed, so a child killed on its deadline still leaves the
results of the files already done.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch._log import get_logger
from model_fetch.install._torch_probe import looks_like_memory_error

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["MEMORY_FACTOR", "MEMORY_HEADROOM", "MIB", "ProbeRun", "memory_limit_for", "run_probe"]

log = get_logger(__name__)

MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB

#: Address space granted to a probe subprocess on top of 3x the largest file it loads. Measured
#: with torch 2.13 (CPU) on Linux x86-64: importing torch peaks at about 510 MiB of address space
#: and loading adds about 1x the file (with or without mmap), so 2 GiB leaves ample room for
#: allocator arenas and threads; 256 MiB is not enough even to import torch.
MEMORY_HEADROOM: Final = 2 * GIB
MEMORY_FACTOR: Final = 3


def memory_limit_for(size_bytes: int) -> int:
    """The address-space limit of a check subprocess for a file of ``size_bytes``.

    Args:
        size_bytes: The size of the largest file the subprocess loads.

    Returns:
        ``3 * size_bytes + 2 GiB`` (see :data:`MEMORY_HEADROOM` for the measurements).
    """
    return MEMORY_FACTOR * size_bytes + MEMORY_HEADROOM


def _probe_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    # Loading needs no parallelism; fewer threads and arenas keep the address space predictable.
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env["MALLOC_ARENA_MAX"] = "2"
    return env


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@attrs.frozen(kw_only=True)
class ProbeRun:
    """What one probe subprocess left behind.

    Attributes:
        records: The JSON record of each file it finished, by the path it was given.
        limit: Its address-space limit in bytes.
        deadline: Its deadline in seconds.
        timed_out: Whether it was killed on its deadline.
        returncode: Its exit status (None when killed on the deadline).
        stderr: What it wrote to stderr.
    """

    records: dict[str, dict[str, Any]]
    limit: int
    deadline: float
    timed_out: bool
    returncode: int | None
    stderr: str

    def missing_reason(self) -> str:
        """Why a file has no record: the deadline, memory, or a crash."""
        if self.timed_out:
            return f"the load check timed out after {self.deadline:g} s and was killed"
        returncode = self.returncode or 0
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        tail = f": {lines[-1][:300]}" if lines else ""
        if looks_like_memory_error(self.stderr):
            return (
                f"the load check ran out of memory under its {self.limit // MIB} MiB "
                f"address-space limit ({_describe_exit(returncode)}{tail})"
            )
        return (
            f"the load check process died ({_describe_exit(returncode)}) under its "
            f"{self.limit // MIB} MiB address-space limit; the file may need more memory than "
            f"that, or crash the loader{tail}"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # the probe reports the missing file itself
        return 0


def run_probe(
    script: Path,
    arguments: Sequence[str],
    paths: Sequence[Path],
    *,
    timeout: float,
    memory_limit: int | None,
) -> ProbeRun:
    """Run ``script`` over files in one sandboxed subprocess and collect its JSON lines.

    Args:
        script: The probe script (standalone: it imports no model_fetch module).
        arguments: Its arguments after ``--max-address-space N`` (they name the files).
        paths: The files it loads (for the memory limit).
        timeout: Seconds per file; the deadline is ``timeout * len(paths)``.
        memory_limit: The address-space limit (default :func:`memory_limit_for` the largest).

    Returns:
        The records and how the subprocess ended.
    """
    largest = max((_size(path) for path in paths), default=0)
    limit = memory_limit if memory_limit is not None else memory_limit_for(largest)
    # -P: never put the script's directory or the working directory on sys.path.
    command = [sys.executable, "-P", str(script), "--max-address-space", str(limit), *arguments]
    deadline = timeout * max(len(paths), 1)
    log.debug("Running %s on %d file(s), limit %d MiB", script.name, len(paths), limit // MIB)
    timed_out = False
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and probe, no shell
            command,
            capture_output=True,
            timeout=deadline,
            env=_probe_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        stdout, stderr, returncode = _text(done.stdout), _text(done.stderr), done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, returncode = _text(exc.stdout), _text(exc.stderr), None
        timed_out = True
    records: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and isinstance(record.get("path"), str):
                records[record["path"]] = record
    return ProbeRun(
        records=records,
        limit=limit,
        deadline=deadline,
        timed_out=timed_out,
        returncode=returncode,
        stderr=stderr,
    )
