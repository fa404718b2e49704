"""Keep every CPU busy while a command runs: the suite must pass on a loaded machine.

``python tests/support/busy.py -- pytest ...`` starts one spinning process per CPU (or ``--workers
N``), runs the command at normal priority, stops the spinners, and exits with the command's code.
The spinners run at the same priority as the tests, as other work on a shared machine would.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    """Burn CPU until told to stop."""
    counter = 0
    while not stop.is_set():
        for _ in range(100_000):
            counter += 1


def main(argv: list[str] | None = None) -> int:
    """Run the command under load; return its exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(args.workers)]
    for spinner in spinners:
        spinner.start()
    try:
        return subprocess.call(command)
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join(10)
            if spinner.is_alive():
                spinner.kill()


if __name__ == "__main__":
    sys.exit(main())
