"""Subprocess entry point that tries to load PyTorch files safely, one JSON line per file.

Run by :func:`model_fetch.install.checks.check_torch` as::

    python -P .../model_fetch/install/_torch_probe.py [--max-address-space BYTES] \
        [--jit PATH]... [PATH]...

(or ``python -m model_fetch.install._torch_probe`` with the same arguments). Each positional
``PATH`` is loaded with ``torch.load(weights_only=True, map_location="cpu", mmap=<zip?>)``; each
``--jit PATH`` with ``torch.jit.load`` (TorchScript runs code: the caller passes those only when the
user opted in). ``weights_only=False`` is never used.

The first thing the probe does, before importing torch or opening any file, is to cap its own
address space (``RLIMIT_AS``, soft and hard, so nothing it loads can raise it again). Setting the
limit here rather than in a ``preexec_fn`` keeps the parent safe to call from threads.

For each file it writes one line of JSON to stdout and flushes it, so a parent that kills it on a
timeout still has the results of the files already done::

    {"path": ..., "ok": true, "outcome": "loaded", "tensors": 2, "parameters": 15}
    {"path": ..., "ok": false, "outcome": "unsafe-globals", "globals": ["posix.system"], ...}

Outcomes: ``loaded``, ``unsafe-globals``, ``memory``, ``error``, ``no-torch``, ``old-torch``.

This module imports only the standard library (and torch, lazily): it must start fast and must not
pull in the rest of model_fetch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pickletools
import sys
import warnings
import zipfile
from typing import IO, Any, Final

#: The oldest torch whose ``weights_only=True`` is not bypassable (CVE-2025-32434, fixed in 2.6.0).
MIN_TORCH: Final = (2, 6)

_MAX_PICKLES_IN_LEGACY: Final = 5  # magic, protocol, sys_info, the object, the storage keys
_MAX_WALK_DEPTH: Final = 64
_STRING_OPS: Final = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
    }
)
_MEMORY_HINTS: Final = (
    "cannot allocate memory",
    "can't allocate memory",
    "failed to map segment",
    "out of memory",
    "std::bad_alloc",
    "memoryerror",
)


def version_tuple(version: str) -> tuple[int, ...]:
    """Return the leading numeric release of a version string (``"2.13.0+cpu"`` -> ``(2, 13, 0)``).

    Args:
        version: A PEP 440-ish version string.

    Returns:
        The leading dot-separated integers; parsing stops at the first non-numeric part.
    """
    parts: list[int] = []
    for piece in version.split("+", 1)[0].split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def looks_like_memory_error(text: str) -> bool:
    """Tell whether an error message says an allocation or a mapping failed.

    Args:
        text: The error's type name and message.

    Returns:
        True when the message matches a known out-of-memory wording.
    """
    lowered = text.lower()
    return any(hint in lowered for hint in _MEMORY_HINTS)


class _Mark:
    """The pickle MARK on the simulated stack."""


_MARK: Final = _Mark()


def _pop_to_mark(stack: list[object]) -> None:
    while stack:
        if stack.pop() is _MARK:
            return


class _PickleScan:
    """A simulated pickle stack: enough to resolve the operands of ``STACK_GLOBAL``."""

    def __init__(self) -> None:
        self.found: dict[str, None] = {}
        self.stack: list[object] = []
        self.memo: dict[int, object] = {}

    def _top(self) -> object:
        return self.stack[-1] if self.stack else None

    def _pop(self) -> object:
        return self.stack.pop() if self.stack else None

    def step(self, opcode: pickletools.OpcodeInfo, arg: Any) -> None:
        name = opcode.name
        if name in _STRING_OPS:
            self.stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif name in {"GET", "BINGET", "LONG_BINGET"}:
            self.stack.append(self.memo.get(int(arg)))
        elif name in {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}:
            index = len(self.memo) if name == "MEMOIZE" else int(arg)
            self.memo[index] = self._top()
        elif not self._global(name, arg):
            self._generic(opcode)

    def _global(self, name: str, arg: Any) -> bool:
        """Record a global-making opcode; return False for any other opcode."""
        if name in {"GLOBAL", "INST"}:
            module, _, attr = str(arg).partition(" ")
            if name == "INST":
                _pop_to_mark(self.stack)
        elif name == "STACK_GLOBAL":
            attr_obj, module_obj = self._pop(), self._pop()
            module = module_obj if isinstance(module_obj, str) else "?"
            attr = attr_obj if isinstance(attr_obj, str) else "?"
        elif name in {"EXT1", "EXT2", "EXT4"}:
            module, attr = "copyreg", f"extension[{arg}]"
        else:
            return False
        self.found[f"{module}.{attr}"] = None
        self.stack.append(None)
        return True

    def _generic(self, opcode: pickletools.OpcodeInfo) -> None:
        before = opcode.stack_before
        if pickletools.markobject in before:
            _pop_to_mark(self.stack)
            count = before.index(pickletools.markobject)
        else:
            count = len(before)
        del self.stack[len(self.stack) - min(count, len(self.stack)) :]
        self.stack.extend(
            _MARK if item is pickletools.markobject else None for item in opcode.stack_after
        )


def globals_in_pickle(stream: IO[bytes]) -> list[str]:
    """List the globals a pickle references, by reading its opcodes without executing any.

    Handles ``GLOBAL``, ``INST``, ``STACK_GLOBAL`` (module and name resolved through a simulated
    stack and memo) and the ``EXT`` codes. Reads exactly one pickle (up to its ``STOP``).

    Args:
        stream: A binary stream positioned at the start of a pickle.

    Returns:
        ``module.name`` strings in order of first appearance; ``?`` stands for a part that could
        not be resolved statically.

    Raises:
        ValueError: The bytes are not a well-formed pickle (raised by :mod:`pickletools`).
    """
    scan = _PickleScan()
    for opcode, arg, _pos in pickletools.genops(stream):
        scan.step(opcode, arg)
    return list(scan.found)


def _static_globals(path: str, *, is_zip: bool) -> list[str]:
    """Every global the file's pickles reference (read statically, never executed)."""
    found: dict[str, None] = {}
    if is_zip:
        with zipfile.ZipFile(path) as archive:
            member = next(
                (name for name in archive.namelist() if name.endswith("data.pkl")),
                None,
            )
            if member is None:
                return []
            with archive.open(member) as stream:
                found.update(dict.fromkeys(globals_in_pickle(stream)))
        return list(found)
    with open(path, "rb") as stream:
        for _ in range(_MAX_PICKLES_IN_LEGACY):
            try:
                found.update(dict.fromkeys(globals_in_pickle(stream)))
            except (ValueError, EOFError, IndexError):
                break
    return list(found)


def _allowed_globals() -> set[str] | None:
    """The globals torch's weights_only unpickler accepts, or None when torch hides them."""
    try:
        unpickler = importlib.import_module("torch._weights_only_unpickler")
        allowed = set(unpickler._get_allowed_globals())  # noqa: SLF001 - no public accessor
        allowed.update(unpickler._get_user_allowed_globals())  # noqa: SLF001
    except (ImportError, AttributeError, TypeError):
        return None
    return allowed


def unsafe_globals(torch: Any, path: str, *, is_zip: bool) -> list[str]:
    """Name the globals that stop a checkpoint from loading with ``weights_only=True``.

    Uses ``torch.serialization.get_unsafe_globals_in_checkpoint`` for zip checkpoints, and a
    static opcode scan (:func:`globals_in_pickle`) for legacy pickles or when torch's own scanner
    cannot read the pickle (it understands protocol 2 only).

    Args:
        torch: The imported torch module.
        path: The checkpoint.
        is_zip: Whether it is a zip checkpoint.

    Returns:
        Sorted global names; empty when none could be identified.
    """
    if is_zip:
        try:
            return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception:  # noqa: BLE001, S110 - fall back to the static scan below
            pass
    try:
        found = _static_globals(path, is_zip=is_zip)
    except (OSError, ValueError, EOFError, IndexError, zipfile.BadZipFile):
        return []
    allowed = _allowed_globals()
    if allowed is None:
        return sorted(found)
    return sorted(name for name in found if name not in allowed)


def _count_tensors(torch: Any, obj: object, depth: int = 0) -> tuple[int, int]:
    """Count tensors and their elements in a loaded object (dicts, lists and tuples walked)."""
    if depth > _MAX_WALK_DEPTH:
        return 0, 0
    if isinstance(obj, torch.Tensor):
        return 1, int(obj.numel())
    values: Any
    if isinstance(obj, dict):
        values = obj.values()
    elif isinstance(obj, list | tuple):
        values = obj
    else:
        return 0, 0
    tensors = elements = 0
    for value in values:
        sub_tensors, sub_elements = _count_tensors(torch, value, depth + 1)
        tensors += sub_tensors
        elements += sub_elements
    return tensors, elements


def _failure(path: str, exc: BaseException) -> dict[str, Any]:
    text = f"{type(exc).__name__}: {exc}"
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if isinstance(exc, MemoryError) or looks_like_memory_error(text):
        return {"path": path, "ok": False, "outcome": "memory", "error": first_line[:500]}
    return {"path": path, "ok": False, "outcome": "error", "error": first_line[:500]}


def _unpickler_error(message: str) -> str:
    """The useful part of torch's weights_only error (after ``WeightsUnpickler error:``)."""
    marker = "WeightsUnpickler error:"
    _, found, rest = message.partition(marker)
    if found:
        lines = [line.strip() for line in rest.splitlines() if line.strip()]
        if lines:
            return lines[0]
    stripped = message.strip()
    return stripped.splitlines()[0] if stripped else ""


def probe_weights(torch: Any, path: str) -> dict[str, Any]:
    """Load one checkpoint with ``weights_only=True`` and describe the outcome.

    Args:
        torch: The imported torch module.
        path: The checkpoint file.

    Returns:
        The JSON-ready outcome for this file.
    """
    is_zip = zipfile.is_zipfile(path)
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu", mmap=is_zip)
    except MemoryError as exc:
        return _failure(path, exc)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
        import pickle  # noqa: PLC0415 - only needed on this path

        if isinstance(exc, pickle.UnpicklingError):
            names = unsafe_globals(torch, path, is_zip=is_zip)
            detail = _unpickler_error(str(exc))
            return {
                "path": path,
                "ok": False,
                "outcome": "unsafe-globals",
                "globals": names,
                "error": detail[:500],
            }
        return _failure(path, exc)
    tensors, elements = _count_tensors(torch, loaded)
    del loaded
    return {
        "path": path,
        "ok": True,
        "outcome": "loaded",
        "tensors": tensors,
        "parameters": elements,
        "mmap": is_zip,
    }


def probe_torchscript(torch: Any, path: str) -> dict[str, Any]:
    """Load one TorchScript archive with ``torch.jit.load`` (this runs the archive's code).

    Args:
        torch: The imported torch module.
        path: The TorchScript file.

    Returns:
        The JSON-ready outcome for this file.
    """
    try:
        module = torch.jit.load(path, map_location="cpu")
        state = module.state_dict()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
        return _failure(path, exc)
    tensors, elements = _count_tensors(torch, dict(state))
    return {
        "path": path,
        "ok": True,
        "outcome": "loaded",
        "tensors": tensors,
        "parameters": elements,
    }


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _limit_address_space(limit: int) -> None:
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:  # pragma: no cover - Windows has no RLIMIT_AS
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    """Run the probe.

    Args:
        argv: The arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The exit status: 0 when every file was probed (whatever the outcomes).
    """
    parser = argparse.ArgumentParser(prog="_torch_probe", description=__doc__)
    parser.add_argument("--max-address-space", type=int, default=0)
    parser.add_argument("--jit", action="append", default=[], metavar="PATH")
    parser.add_argument("paths", nargs="*", metavar="PATH")
    args = parser.parse_args(argv)
    if args.max_address_space > 0:
        _limit_address_space(args.max_address_space)
    jobs = [(path, False) for path in args.paths] + [(path, True) for path in args.jit]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns when numpy is missing
            torch = importlib.import_module("torch")
    except BaseException as exc:  # noqa: BLE001 - an import killed by the limit is an outcome
        text = f"{type(exc).__name__}: {exc}"
        outcome = "memory" if looks_like_memory_error(text) else "no-torch"
        for path, _jit in jobs:
            _emit({"path": path, "ok": False, "outcome": outcome, "error": text[:500]})
        return 0

    version = str(getattr(torch, "__version__", "0"))
    if version_tuple(version) < MIN_TORCH:
        for path, _jit in jobs:
            _emit({"path": path, "ok": False, "outcome": "old-torch", "version": version})
        return 0

    for path, jit in jobs:
        record = probe_torchscript(torch, path) if jit else probe_weights(torch, path)
        record["torch_version"] = version
        _emit(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
