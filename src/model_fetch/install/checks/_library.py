"""The formats' own libraries as checks: onnx, gguf and safetensors, in a sandboxed subprocess.

Where a format's library is installed (``pip install 'model_fetch[checks]'``), its verdict is
the check's verdict: the file is loaded exactly as the library's users load it, in a child
process with the same limits as the torch check (:mod:`._sandbox`); safetensors, whose parser
is Rust and reads only the header, runs in this process (:data:`IN_PROCESS`). A file the
library loads but that holds nothing to run (no tensor; an ONNX graph without a node) is not
ready either.
Where the library is absent, the format's structural check stands alone and its ``checked``
name says so (``onnx.structure`` rather than ``onnx.checker``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from model_fetch.install.checks._library_probe import probe
from model_fetch.install.checks._readiness import Readiness, failed, passed
from model_fetch.install.checks._sandbox import run_probe

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from model_fetch.install.checks._verifier import CheckOptions

__all__ = [
    "IN_PROCESS",
    "LIBRARY_CHECKS",
    "judge_with_library",
    "library_installed",
    "load_with_library",
]

#: Per format: the module that must be importable, and the ``checked`` name of its check.
LIBRARY_CHECKS: Final = {
    "onnx": ("onnx", "onnx.checker"),
    "gguf": ("gguf", "gguf.reader"),
    "safetensors": ("safetensors", "safetensors.safe_open"),
}
_SCRIPT: Final = Path(__file__).with_name("_library_probe.py")
#: Formats whose library runs in this process: safetensors' parser is Rust, reads only the
#: header (which it caps at 100 MB) and maps the rest, so a subprocess would only add its start-up
#: (about 0.3 s per model, measured) to every download. onnx parses the whole protobuf into memory
#: and gguf walks the file in Python: those keep the subprocess and its limits.
IN_PROCESS: Final = frozenset({"safetensors"})


def library_installed(fmt: str) -> bool:
    """Tell whether a format's own library can be imported (found without importing it)."""
    module, _ = LIBRARY_CHECKS[fmt]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _empty(fmt: str, record: dict[str, Any]) -> str | None:
    """Why a file the library loaded holds nothing to run, or None when it holds weights."""
    if fmt == "onnx":
        return None if record.get("nodes") else "the ONNX graph has no nodes: nothing to run"
    if record.get("tensors"):
        return None
    if fmt == "gguf":
        return "the GGUF file holds no tensors (a vocabulary-only file has no weights)"
    return "the safetensors file holds no tensors"


def _from_record(fmt: str, record: dict[str, Any]) -> Readiness:
    _, checked = LIBRARY_CHECKS[fmt]
    facts = {key: value for key, value in record.items() if key not in {"path", "ok", "outcome"}}
    facts.pop("error", None)
    outcome = record.get("outcome")
    error = str(record.get("error", ""))
    if outcome == "loaded":
        empty = _empty(fmt, record)
        if empty is not None:
            return failed(checked, empty, **facts)
        return passed(checked, **facts)
    if outcome == "unsupported":
        # The library cannot tell whether the file is sound: unchecked, not invalid.
        return failed(None, f"unsupported: {error}", **facts)
    if outcome == "no-library":
        return failed(None, f"the {fmt} library cannot be imported: {error}", **facts)
    return failed(checked, f"{checked} refused it: {error}", **facts)


def load_with_library(fmt: str, paths: Sequence[Path], options: CheckOptions) -> list[Readiness]:
    """Load files of one format with its library in one sandboxed subprocess.

    Args:
        fmt: ``onnx``, ``gguf`` or ``safetensors`` (its library must be installed).
        paths: The files.
        options: The timeout (per file) and address-space limit.

    Returns:
        One outcome per file, in order.
    """
    if not paths:
        return []
    resolved = [Path(path).resolve() for path in paths]
    if fmt in IN_PROCESS:
        return [_from_record(fmt, probe(fmt, str(path))) for path in resolved]
    run = run_probe(
        _SCRIPT,
        [f"{fmt}:{path}" for path in resolved],
        resolved,
        timeout=options.timeout,
        memory_limit=options.memory_limit,
    )
    _, checked = LIBRARY_CHECKS[fmt]
    results = []
    for path in resolved:
        record = run.records.get(str(path))
        if record is None:
            results.append(failed(checked, run.missing_reason(), memory_limit=run.limit))
        else:
            results.append(_from_record(fmt, record))
    return results


#: Formats whose structural check cannot stand in for the library: only ``onnx.checker`` knows
#: operator schemas and shapes, so without it an intact structure leaves the file unchecked
#: (not ready), as a torch file is without torch.
STRUCTURE_NOT_ENOUGH: Final = frozenset({"onnx"})


def _without_library(fmt: str, outcome: Readiness) -> Readiness:
    """Say in a structural outcome that the library's own check did not run."""
    module, _ = LIBRARY_CHECKS[fmt]
    install = "pip install 'model_fetch[checks]'"
    note = f"{module} is not installed: structural check only ({install})"
    details = {**outcome.details, "library": note}
    if (outcome.ready or outcome.reason is None) and fmt in STRUCTURE_NOT_ENOUGH:
        reason = (
            f"its structure is intact, but {module} is not installed, so its operators and "
            f"shapes are unchecked ({install})"
        )
        return failed(None, reason, **details)
    if outcome.ready or outcome.reason is None:
        return passed(outcome.checked or fmt, **details)
    return failed(outcome.checked, f"{outcome.reason} ({note})", **details)


def judge_with_library(
    fmt: str,
    paths: Sequence[Path],
    options: CheckOptions,
    *,
    structural: Callable[[Path], Readiness],
    use_library: bool,
) -> list[Readiness]:
    """Judge files of one format: the structural check, then the library where installed.

    The structural check runs first. Where the library is installed its verdict stands, for
    every file but those the structural check marked ``unsafe`` to load (ONNX external data
    outside the model's directory): the aim is to agree with the library, which is sometimes
    laxer than the structural check (UTF-8 in value_info names, duplicate JSON keys). When both
    refuse a file, the reason gives both (the structural one names the byte range at fault).

    Args:
        fmt: ``onnx``, ``gguf`` or ``safetensors``.
        paths: The files.
        options: The timeout and address-space limit of the library's subprocess.
        structural: The format's structural check.
        use_library: Whether to use the library when it is installed.

    Returns:
        One outcome per file, in order.
    """
    first = [structural(path) for path in paths]
    if not (use_library and library_installed(fmt)):
        return [_without_library(fmt, outcome) for outcome in first]
    safe = [
        path
        for path, outcome in zip(paths, first, strict=True)
        if not outcome.details.get("unsafe")
    ]
    loaded = iter(load_with_library(fmt, safe, options))
    return [
        outcome if outcome.details.get("unsafe") else _both(next(loaded), outcome)
        for outcome in first
    ]


def _both(library: Readiness, structural: Readiness) -> Readiness:
    """The library's verdict; when both refused, the structural reason too (often plainer)."""
    if library.ready or library.checked is None or structural.ready or not structural.reason:
        return library
    return failed(library.checked, f"{library.reason}; {structural.reason}", **library.details)
