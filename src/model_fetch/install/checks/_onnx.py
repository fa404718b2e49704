"""The ONNX check: the protobuf structure of the whole model, and its external data.

The wire structure of the whole ``ModelProto`` is walked (every top-level field well-formed and
inside the file, nothing trailing), ``ir_version`` and a ``graph`` are present, and
``opset_import`` too for IR version 3 and later. The graph's fields are walked the same way, and
every initializer stored as external data must name a file inside the model's directory that
exists and is long enough for its ``offset``/``length``. Operators are **not** validated: this
proves the file is complete and well-framed, not that a runtime accepts the graph.
"""

from __future__ import annotations

import mmap
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from model_fetch.install.checks._detect import ONNX_MAX_IR
from model_fetch.install.checks._library import judge_with_library
from model_fetch.install.checks._onnx_walk import check_graph_order, walk_model
from model_fetch.install.checks._protobuf import LEN, VARINT, proto_fields
from model_fetch.install.checks._readiness import Malformed, Readiness, failed, passed
from model_fetch.install.checks._verifier import FormatVerifier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from model_fetch.install.checks._detect import ModelFile
    from model_fetch.install.checks._verifier import CheckOptions

__all__ = ["ONNX_KNOWN_IR", "OnnxVerifier", "check_onnx"]


class _External(Malformed):
    """External data outside the model's directory, or missing: never handed to a loader."""


class _Unsupported(Exception):
    """The model is newer than the structural check knows: its soundness cannot be told."""


#: The newest IR version the structural check knows (onnx 1.23's onnx.IR_VERSION).
ONNX_KNOWN_IR: Final = 14
_ONNX_OPSET_SINCE_IR: Final = 3
_ONNX_EXTERNAL: Final = 1
# ONNX field numbers (onnx.proto).
_MODEL_GRAPH: Final = 7
_MODEL_OPSET_IMPORT: Final = 8
_GRAPH_NODE: Final = 1
_GRAPH_INITIALIZER: Final = 5
_TENSOR_NAME: Final = 8
_TENSOR_EXTERNAL_DATA: Final = 13
_TENSOR_DATA_LOCATION: Final = 14


def _external_data(buf: mmap.mmap, start: int, end: int) -> dict[str, str]:
    entry: dict[str, str] = {}
    for field, wire, value, length in proto_fields(buf, start, end):
        if wire == LEN and field in {1, 2}:
            text = bytes(buf[value : value + length]).decode("utf-8", "replace")
            entry["key" if field == 1 else "value"] = text
    return entry


def _read_tensor_proto(buf: mmap.mmap, start: int, end: int) -> tuple[str, int, dict[str, str]]:
    """Return a TensorProto's name, data_location and external_data entries."""
    external: dict[str, str] = {}
    location = 0
    name = "?"
    for field, wire, value, length in proto_fields(buf, start, end):
        if field == _TENSOR_NAME and wire == LEN:
            name = bytes(buf[value : value + length]).decode("utf-8", "replace")
        elif field == _TENSOR_EXTERNAL_DATA and wire == LEN:
            entry = _external_data(buf, value, value + length)
            if "key" in entry:
                external[entry["key"]] = entry.get("value", "")
        elif field == _TENSOR_DATA_LOCATION and wire == VARINT:
            location = value
    return name, location, external


def _check_initializer(buf: mmap.mmap, start: int, end: int, directory: Path) -> bool:
    """Check one TensorProto; return True when its data is external (and was checked)."""
    name, location, external = _read_tensor_proto(buf, start, end)
    if location != _ONNX_EXTERNAL:
        return False
    relative = external.get("location", "")
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not relative or PurePosixPath(relative).is_absolute() or ".." in parts or ":" in relative:
        raise _External(f"initializer {name!r}: unsafe external data location {relative!r}")
    target = directory.joinpath(*parts)
    if not target.is_file():
        raise _External(f"initializer {name!r}: external data file {relative!r} is missing")
    try:
        offset = int(external.get("offset") or 0)
        length = int(external.get("length") or 0)
    except ValueError:
        raise _External(f"initializer {name!r}: bad external data offset/length") from None
    if offset < 0 or length < 0 or offset + length > target.stat().st_size:
        raise _External(
            f"initializer {name!r}: external data [{offset}, {offset + length}) lies outside "
            f"{relative!r}"
        )
    return True


def _model_fields(buf: mmap.mmap, size: int) -> tuple[int | None, list[tuple[int, int]], int]:
    """Walk ModelProto's top level; return (ir_version, graph spans, opset_import count)."""
    expected_wire = {1: VARINT, _MODEL_GRAPH: LEN, _MODEL_OPSET_IMPORT: LEN}
    ir_version: int | None = None
    graphs: list[tuple[int, int]] = []
    opsets = 0
    for field, wire, value, length in proto_fields(buf, 0, size):
        if field in expected_wire and wire != expected_wire[field]:
            raise Malformed(f"ModelProto field {field} has wire type {wire}")
        if field == 1:
            ir_version = value
        elif field == _MODEL_GRAPH:
            graphs.append((value, length))
        elif field == _MODEL_OPSET_IMPORT:
            opsets += 1
    return ir_version, graphs, opsets


def _parse_onnx(buf: mmap.mmap, size: int, directory: Path) -> dict[str, Any]:
    ir_version, graphs, opsets = _model_fields(buf, size)
    if ir_version is None or not 1 <= ir_version <= ONNX_MAX_IR:
        raise Malformed(f"missing or implausible ir_version {ir_version}")
    if ir_version > ONNX_KNOWN_IR:
        raise _Unsupported(
            f"IR version {ir_version} is newer than this check knows ({ONNX_KNOWN_IR}); "
            "install onnx for its own check"
        )
    walk_model(buf, 0, size)
    if not graphs:
        raise Malformed("no graph")
    if ir_version >= _ONNX_OPSET_SINCE_IR and not opsets:
        raise Malformed("no opset_import")
    check_graph_order(buf, graphs)
    nodes = initializers = external = 0
    for start, length in graphs:  # protobuf merges repeated occurrences of a message field
        for field, wire, value, sub_length in proto_fields(buf, start, start + length):
            if field == _GRAPH_NODE and wire == LEN:
                nodes += 1
            elif field == _GRAPH_INITIALIZER and wire == LEN:
                initializers += 1
                external += _check_initializer(buf, value, value + sub_length, directory)
    return {
        "ir_version": ir_version,
        "opsets": opsets,
        "nodes": nodes,
        "initializers": initializers,
        "external_initializers": external,
    }


def check_onnx(path: Path) -> Readiness:
    """Validate an ONNX file's protobuf structure (see the module docstring for exactly what).

    Args:
        path: The ``.onnx`` file; external data files are looked for beside it.

    Returns:
        ``ready=True`` with ``checked="onnx.structure"`` when the structure is sound, else
        ``ready=False`` with the first problem found.
    """
    checked = "onnx.structure"
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return failed(checked, "empty file")
        with (
            path.open("rb") as stream,
            mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            details = _parse_onnx(buf, size, path.parent)
    except OSError as exc:
        return failed(checked, f"cannot read the file: {exc}")
    except (Malformed, _Unsupported) as exc:
        return _refusal(checked, exc)
    if not details["nodes"]:
        return failed(checked, "the ONNX graph has no nodes: nothing to run", **details)
    return passed(checked, **details)


def _refusal(checked: str, exc: Malformed | _Unsupported) -> Readiness:
    if isinstance(exc, _Unsupported):
        return failed(None, f"unsupported: {exc}")
    if isinstance(exc, _External):
        return failed(checked, f"invalid ONNX model: {exc}", unsafe=True)
    return failed(checked, f"invalid ONNX model: {exc}")


@attrs.frozen(kw_only=True)
class OnnxVerifier(FormatVerifier):
    """The built-in onnx check: :func:`check_onnx`, then its library where installed.

    The library check is ``onnx.load + onnx.checker.check_model(full_check=True)``.

    Attributes:
        use_library: Load files with the onnx library when it is installed (in a sandboxed
            subprocess); False runs the structural check alone.
    """

    name: ClassVar[str] = "onnx"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    use_library: bool = True

    def judge(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        """Check each file's structure, then load the sound ones with the library."""
        return judge_with_library(
            "onnx",
            [file.path for file in files],
            options,
            structural=check_onnx,
            use_library=self.use_library,
        )
