"""Kill -9 at any commit step: a fork server whose children SIGKILL themselves at step N.

A *step* is one call of a filesystem function a commit (or a removal) makes durable or visible
with: ``rename``, ``replace``, ``link``, ``symlink``, ``unlink``, ``remove``, ``rmdir`` and
``fsync`` of :mod:`os` (``shutil.rmtree`` and fsspec's ``rm_file`` go through them too). A child
patches those functions module-wide, so every storage module is covered without naming them.
Counting starts when the last operation of the child enters ``Store.commit`` (a download) or
``Store.remove`` (a removal), and runs to the end of that operation: the record, the refs and the
staging lock's release are steps too.

The child kills itself **before** its ``kill_at``-th step: ``os.kill(os.getpid(), SIGKILL)``, so
nothing runs after it (no ``finally``, no ``atexit``, no buffered write); the steps before it are
done, that one is not. ``kill_at=0`` never kills and records every step: the count.

Children are forked from one server process that ran the operations once at its start (into a
store of its own, with nothing patched), so each attempt costs a fork and a download from the test
servers, not an interpreter start and the first download's imports. The server checks that it has
no thread but its main one before each fork.

Run as ``python -m support.kill9``; :class:`KillServer` starts it and talks to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

__all__ = ["STEP_FUNCTIONS", "Attempt", "KillServer"]

#: The functions of :mod:`os` whose calls are steps.
STEP_FUNCTIONS = ("rename", "replace", "link", "symlink", "unlink", "remove", "rmdir", "fsync")
#: Children running at once: a child mostly waits for the test servers, so a few overlap well.
_PARALLEL = 4
#: Names that differ between runs (uuids, generation ids) are masked so step lists compare.
_RANDOM = re.compile(r"[0-9a-f]{8,}")


@attrs.frozen
class Attempt:
    """What one child did.

    Attributes:
        steps: The steps it took, in order, as ``"<function> <paths>"`` (random parts masked).
        killed_before: The step it did not take because it died just before it, if it did.
        killed: Whether it died by SIGKILL (at step ``len(steps) + 1``).
        error: The traceback of an exception it raised instead, if any.
    """

    steps: tuple[str, ...]
    killed_before: str | None
    killed: bool
    error: str | None


class KillServer:
    """A fork server for children that run model_fetch operations and kill themselves.

    Args:
        env: The server's environment (``HF_ENDPOINT`` is read by huggingface_hub at import).
        workdir: Where each child's step log and output go.
        warmup: Operations the server runs itself at its start, in a store under ``workdir``.
    """

    def __init__(
        self, env: Mapping[str, str], workdir: Path, warmup: Sequence[Sequence[str]]
    ) -> None:
        """Start the server; it runs the ``warmup`` operations once (see :meth:`run`)."""
        self._workdir = workdir
        self._count = 0
        import model_fetch  # noqa: PLC0415 - the children run the model_fetch the tests import

        tests = Path(__file__).resolve().parents[1]
        src = Path(model_fetch.__file__).resolve().parents[1]
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "support.kill9",
                json.dumps({"store": str(workdir / "warmup"), "ops": [list(o) for o in warmup]}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**env, "PYTHONPATH": os.pathsep.join((str(src), str(tests)))},
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline() == b"ready\n"

    def run(self, store: str, ops: Sequence[Sequence[str]], kill_at: int) -> Attempt:
        """Fork a child that runs ``ops`` on ``store`` and dies before step ``kill_at`` of the last.

        Args:
            store: The store argument of the child's ``Downloader``.
            ops: ``("download", name, version)``, ``("remove", name, version)`` (``"remove?"``:
                a version that is not installed is no error) or ``("prune", "", "")``
                (``cache-prune``); all but the last run to completion first.
            kill_at: The step to die before (1 is the first); 0 runs to the end.
        """
        return self.run_many([(store, ops, kill_at)])[0]

    def run_many(
        self, attempts: Sequence[tuple[str, Sequence[Sequence[str]], int]]
    ) -> list[Attempt]:
        """Fork one child per ``(store, ops, kill_at)`` (see :meth:`run`), a few at a time."""
        commands = []
        for store, ops, kill_at in attempts:
            self._count += 1
            log = self._workdir / f"attempt-{self._count}.log"
            ops_list = [list(op) for op in ops]
            commands.append({"store": store, "ops": ops_list, "kill_at": kill_at, "log": str(log)})
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps(commands).encode() + b"\n")
        self._process.stdin.flush()
        statuses = json.loads(self._process.stdout.readline())
        return [_attempt(c, s) for c, s in zip(commands, statuses, strict=True)]

    def close(self) -> None:
        """Stop the server (it exits at the end of its input)."""
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        self._process.wait()

    def __enter__(self) -> Self:
        """The server, started."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.close()


def _attempt(command: dict[str, Any], status: dict[str, Any]) -> Attempt:
    lines = Path(command["log"]).read_text().splitlines()
    steps = tuple(line.split(" ", 1)[1] for line in lines if line.startswith("step "))
    errors = [line for line in lines if not line.startswith(("step ", "kill ", "done"))]
    if status["signal"] is None and status["exit"] == 0:
        assert lines[-1:] == ["done"], lines
    if status["signal"] == signal.SIGKILL:
        assert lines[-1].startswith("kill "), lines
        assert len(steps) == command["kill_at"] - 1, lines
    return Attempt(
        steps=steps,
        killed_before=lines[-1].removeprefix("kill ") if status["signal"] else None,
        killed=status["signal"] == signal.SIGKILL,
        error="\n".join(errors) or (None if status["exit"] == 0 else f"status {status}"),
    )


# -- in the server and its children ------------------------------------------------------------


class _Steps:
    """The patched ``os`` functions of one child: log each step, die before step ``kill_at``."""

    def __init__(self, kill_at: int, log_fd: int, root: str) -> None:
        self.kill_at, self.log_fd, self.root = kill_at, log_fd, root
        self.armed = False
        self.count = 0

    def _label(self, name: str, args: tuple[Any, ...]) -> str:
        parts = []
        for arg in args:
            if name == "fsync" and isinstance(arg, int):
                try:
                    arg = os.readlink(f"/proc/self/fd/{arg}")  # noqa: PLW2901
                except OSError:
                    arg = "fd"  # noqa: PLW2901
            text = os.fspath(arg) if isinstance(arg, (str, os.PathLike)) else str(arg)
            parts.append(_RANDOM.sub("*", str(text).replace(self.root, "<store>")))
        return f"{name} {' '.join(parts)}"

    def wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.count += 1
                label = self._label(name, args)
                if self.count == self.kill_at:
                    os.write(self.log_fd, f"kill {label}\n".encode())
                    os.kill(os.getpid(), signal.SIGKILL)
                os.write(self.log_fd, f"step {label}\n".encode())
            return real(*args, **kwargs)

        return step


def _child(command: dict[str, Any]) -> None:
    """Run the operations of one command, then leave at once (the server's state is not ours)."""
    log_fd = os.open(command["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    out = os.open(command["log"] + ".out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 0
    try:
        from model_fetch import Downloader  # noqa: PLC0415 - imported by the server already
        from model_fetch.storage import _store  # noqa: PLC0415

        with Downloader(store=command["store"]) as downloader:
            root = downloader.store.root
            steps = _Steps(command["kill_at"], log_fd, root)
            for name in STEP_FUNCTIONS:
                setattr(os, name, steps.wrap(name, getattr(os, name)))
            *setup, last = command["ops"]
            for op in setup:
                _do(downloader, op)
            for method in ("commit", "remove"):
                real = getattr(_store.Store, method)
                setattr(_store.Store, method, _arming(steps, real))
            _do(downloader, last)
            steps.armed = False
        os.write(log_fd, b"done\n")
    except BaseException:  # noqa: BLE001 - reported to the test
        os.write(log_fd, traceback.format_exc().encode())
        code = 1
    os._exit(code)


def _arming(steps: _Steps, real: Callable[..., Any]) -> Callable[..., Any]:
    def armed(*args: Any, **kwargs: Any) -> Any:
        steps.armed = True
        return real(*args, **kwargs)

    return armed


def _do(downloader: Any, op: Sequence[str]) -> None:
    kind, name, version = op
    if kind == "download":
        downloader.download(name, version, source="huggingface")
    elif kind == "remove":
        downloader.remove(name, version)
    elif kind == "remove?":
        from model_fetch.exceptions import ModelNotFound  # noqa: PLC0415

        with contextlib.suppress(ModelNotFound):
            downloader.remove(name, version)
    elif kind == "prune":
        downloader.prune_partials()
        downloader.prune_objects()
    else:  # pragma: no cover - a test's typo
        raise ValueError(kind)


def _serve(warmup: dict[str, Any]) -> None:
    """Run the warm-up operations, then fork one child per command read from stdin."""
    import threading  # noqa: PLC0415

    from model_fetch import Downloader  # noqa: PLC0415

    with Downloader(store=warmup["store"]) as downloader:
        for op in warmup["ops"]:
            _do(downloader, op)
    sys.stdout.buffer.write(b"ready\n")
    sys.stdout.flush()
    for line in sys.stdin.buffer:
        commands = json.loads(line)
        running: dict[int, int] = {}
        replies: list[dict[str, Any]] = [{} for _ in commands]
        for index, command in enumerate(commands):
            if len(running) == _PARALLEL:
                _reap(running, replies)
            alive = [thread.name for thread in threading.enumerate()]
            assert alive == [threading.main_thread().name], f"threads before fork: {alive}"
            pid = os.fork()
            if pid == 0:
                _child(command)
            running[pid] = index
        while running:
            _reap(running, replies)
        sys.stdout.buffer.write(json.dumps(replies).encode() + b"\n")
        sys.stdout.flush()


def _reap(running: dict[int, int], replies: list[dict[str, Any]]) -> None:
    """Wait for one child to end and note how."""
    pid, status = os.wait()
    replies[running.pop(pid)] = {
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
    }


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
