"""Subprocess entry point that loads model files with their formats' own libraries.

Run by the ONNX, GGUF and safetensors checks as::

    python -P .../model_fetch/install/checks/_library_probe.py [--max-address-space BYTES] \
        FORMAT:PATH...

with FORMAT one of ``onnx``, ``gguf``, ``safetensors``. Each file is loaded the way the format's
own runtime reads it:

``onnx``
    ``onnx.load(path, load_external_data=False)`` then
    ``onnx.checker.check_model(path, full_check=True)`` (the checker resolves external data
    beside the model; the caller has already proved every external location stays inside the
    model's directory).
``gguf``
    ``gguf.GGUFReader(path)`` (memory-mapped; every key, value and tensor description parsed).
``safetensors``
    ``safetensors.safe_open(path, framework="numpy")`` and every tensor's shape and dtype.

The first thing the probe does, before importing any library or opening a file, is to cap its
own address space (``RLIMIT_AS``). For each file it writes one line of JSON to stdout, flushed::

    {"path": ..., "ok": true, "outcome": "loaded", "tensors": 2, ...}
    {"path": ..., "ok": false, "outcome": "error", "error": "DecodeError: ..."}

Outcomes: ``loaded``, ``error``, ``unsupported`` (the library does not know a type the file
uses), ``no-library``. This module imports only the standard library and, lazily, the format
libraries: it must not pull in the rest of model_fetch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import warnings
from typing import Any, Final

_UNSUPPORTED: Final = re.compile(r"(\d+) is not a valid GGMLQuantizationType")


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


def probe_onnx(path: str) -> dict[str, Any]:
    """Parse and check one ONNX model with the onnx library."""
    onnx = importlib.import_module("onnx")
    checker = importlib.import_module("onnx.checker")
    model = onnx.load(path, load_external_data=False)
    checker.check_model(path, full_check=True)
    graph = model.graph
    return {
        "nodes": len(graph.node),
        "initializers": len(graph.initializer),
        "ir_version": int(model.ir_version),
        "library_version": str(getattr(onnx, "__version__", "?")),
    }


def probe_gguf(path: str) -> dict[str, Any]:
    """Read one GGUF file with gguf's own reader."""
    gguf = importlib.import_module("gguf")
    try:
        reader = gguf.GGUFReader(path, "r")
    except ValueError as exc:
        found = _UNSUPPORTED.search(str(exc))
        if found is None:
            raise
        return {
            "ok": False,
            "outcome": "unsupported",
            "error": f"tensor type {found.group(1)} is not known to gguf {_version('gguf')}",
        }
    return {
        "tensors": len(reader.tensors),
        "metadata_entries": len(reader.fields),
        "library_version": _version("gguf"),
    }


def probe_safetensors(path: str) -> dict[str, Any]:
    """Open one safetensors file with the safetensors library and read every tensor's info."""
    safetensors = importlib.import_module("safetensors")
    parameters = 0
    with safetensors.safe_open(path, framework="numpy") as handle:
        names = list(handle.keys())
        for name in names:
            elements = 1
            for dim in handle.get_slice(name).get_shape():
                elements *= int(dim)
            parameters += elements
    return {
        "tensors": len(names),
        "parameters": parameters,
        "library_version": str(getattr(safetensors, "__version__", "?")),
    }


_PROBES: Final = {"onnx": probe_onnx, "gguf": probe_gguf, "safetensors": probe_safetensors}


def _version(module: str) -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415 - only when reporting

        return version(module)
    except Exception:  # noqa: BLE001 - a version is only a detail
        return "?"


def probe(fmt: str, path: str) -> dict[str, Any]:
    """Load one file with its format's library and describe the outcome.

    Args:
        fmt: ``onnx``, ``gguf`` or ``safetensors``.
        path: The file.

    Returns:
        The JSON-ready outcome for this file.
    """
    record: dict[str, Any] = {"path": path, "format": fmt}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            facts = _PROBES[fmt](path)
    except ImportError as exc:
        return {**record, "ok": False, "outcome": "no-library", "error": _error(exc)}
    except Exception as exc:  # noqa: BLE001 - every refusal is reported, none is fatal
        return {**record, "ok": False, "outcome": "error", "error": _error(exc)}
    if "outcome" in facts:
        return {**record, **facts}
    return {**record, "ok": True, "outcome": "loaded", **facts}


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
    parser = argparse.ArgumentParser(prog="_library_probe", description=__doc__)
    parser.add_argument("--max-address-space", type=int, default=0)
    parser.add_argument("jobs", nargs="*", metavar="FORMAT:PATH")
    args = parser.parse_args(argv)
    if args.max_address_space > 0:
        _limit_address_space(args.max_address_space)
    for job in args.jobs:
        fmt, _, path = job.partition(":")
        if fmt not in _PROBES:
            record = {"path": path, "ok": False, "outcome": "error", "error": f"format {fmt}"}
        else:
            record = probe(fmt, path)
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
