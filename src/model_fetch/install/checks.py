r"""Honest ``ready_for_inference``: real checks of model files, never a guess from a name.

The format of a file is detected from its *bytes* (:func:`detect_format`), never from its
extension, and each format gets the strongest check that can run without executing anything the
file contains:

``safetensors`` (:func:`check_safetensors`, ``checked="safetensors.header"``)
    The header is parsed and validated in full without reading any tensor: size limits, known
    dtypes, shapes of non-negative integers, and ``data_offsets`` that match each shape exactly,
    start at 0, leave no gap or overlap, and end exactly at the end of the file.
``torch-zip`` / ``torch-pickle`` (:func:`check_torch`, ``checked="torch.weights_only"``)
    The file is really loaded with ``torch.load(weights_only=True, map_location="cpu")`` (``mmap``
    for zip checkpoints) in a **subprocess** with a timeout and an address-space limit. It is never
    retried with ``weights_only=False``. When the allowlisting unpickler refuses the file, the
    globals it needs are named (``get_unsafe_globals_in_checkpoint`` or a static opcode scan); the
    code they would run never runs. torch older than 2.6 is refused (CVE-2025-32434).
``torchscript``
    Loading TorchScript runs the archive's code, so it is loaded (``torch.jit.load``, in the same
    sandboxed subprocess, ``checked="torch.jit"``) only with ``allow_torchscript=True``.
``gguf`` (``checked="gguf.header"``)
    Magic, version 2 or 3, sane counts, every metadata key/value and tensor description parsed
    within the file's bounds, ``general.alignment`` honoured, and every tensor's data at the
    offset llama.cpp expects, of the size its GGML type and shape imply, inside the file. A tensor
    of a GGML type this check does not know makes the file not ready (its size cannot be verified).
``onnx`` (``checked="onnx.structure"``)
    The protobuf wire structure of the whole ``ModelProto`` is walked (every top-level field
    well-formed and inside the file, nothing trailing), ``ir_version`` and a ``graph`` are present,
    and ``opset_import`` too for IR version 3 and later. The graph's fields are walked the same way,
    and every initializer stored as external data must name a file inside the model's directory
    that exists and is long enough for its ``offset``/``length``. Operators are **not** validated:
    this proves the file is complete and well-framed, not that a runtime accepts the graph.

Any other content gets ``ready=False`` with ``checked=None`` and ``reason="no check for format
..."``.

Detection rules (:func:`detect_format`), in this order:

1. ``GGUF`` magic -> ``gguf``.
2. A zip (``PK\x03\x04``) with a ``constants.pkl`` record or a ``code/`` directory ->
   ``torchscript``; otherwise with a record ending in ``data.pkl`` -> ``torch-zip``.
3. ``\x80`` followed by protocol 2-5 -> ``torch-pickle`` (any pickle: it is what ``torch.load``
   would unpickle).
4. An 8-byte little-endian header length N with ``2 <= N <= size - 8`` followed by ``{`` ->
   ``safetensors``.
5. A protobuf whose first field is field 1 (``ir_version``) as a varint in 1..100, followed by
   another well-formed tag -> ``onnx``. The extension is not used: ``.onnx`` alone is not enough,
   and an ONNX file with another name is still found.

Model-level readiness (:func:`check_model`) combines the built-in checks with plugin
:class:`Verifier` objects registered under the ``model_fetch.verifiers`` entry-point group.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import math
import mmap
import os
import signal
import struct
import subprocess
import sys
import threading
import zipfile
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs

from model_fetch._log import get_logger
from model_fetch.install._torch_probe import MIN_TORCH, looks_like_memory_error, version_tuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "DEFAULT_TORCH_TIMEOUT",
    "ENTRY_POINT_GROUP",
    "FORMATS",
    "BuiltinVerifier",
    "Readiness",
    "Verifier",
    "available_verifiers",
    "check_file",
    "check_gguf",
    "check_model",
    "check_onnx",
    "check_safetensors",
    "check_torch",
    "detect_format",
    "memory_limit_for",
]

log = get_logger(__name__)

MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB

#: The formats :func:`detect_format` can answer.
FORMATS: Final = (
    "safetensors",
    "torch-zip",
    "torchscript",
    "torch-pickle",
    "onnx",
    "gguf",
    "unknown",
)
#: Entry-point group of third-party :class:`Verifier` plugins.
ENTRY_POINT_GROUP: Final = "model_fetch.verifiers"
#: Seconds a torch load check may take, per file.
DEFAULT_TORCH_TIMEOUT: Final = 120.0

#: Address space granted to the torch subprocess on top of 3x the largest file it loads. Measured
#: with torch 2.13 (CPU) on Linux x86-64: importing torch peaks at about 510 MiB of address space
#: and loading adds about 1x the file (with or without mmap), so 2 GiB leaves ample room for
#: allocator arenas and threads; 256 MiB is not enough even to import torch.
MEMORY_HEADROOM: Final = 2 * GIB
MEMORY_FACTOR: Final = 3

_TORCH_HINT: Final = "torch is not installed (pip install 'model_fetch[torch]')"
_TORCHSCRIPT_REFUSED: Final = (
    "TorchScript runs code when loaded; not loaded (opt in with allow_torchscript=True "
    "if you trust the file)"
)

# safetensors dtypes and their sizes in bits (safetensors 0.8's Dtype).
_ST_DTYPE_BITS: Final = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
_ST_MAX_HEADER: Final = 100 * MIB
_ST_MAX_TENSORS: Final = 100_000
_ST_MAX_DIMS: Final = 64

# GGML tensor types: (elements per block, bytes per block), from llama.cpp's gguf-py constants.
_QK_K: Final = 256
_GGML_TYPES: Final[dict[int, tuple[str, int, int]]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 2 + 16),
    3: ("Q4_1", 32, 2 + 2 + 16),
    6: ("Q5_0", 32, 2 + 4 + 16),
    7: ("Q5_1", 32, 2 + 2 + 4 + 16),
    8: ("Q8_0", 32, 2 + 32),
    9: ("Q8_1", 32, 4 + 4 + 32),
    10: ("Q2_K", _QK_K, 2 + 2 + _QK_K // 16 + _QK_K // 4),
    11: ("Q3_K", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + 12),
    12: ("Q4_K", _QK_K, 2 + 2 + _QK_K // 2 + 12),
    13: ("Q5_K", _QK_K, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),
    14: ("Q6_K", _QK_K, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),
    15: ("Q8_K", _QK_K, 4 + _QK_K + _QK_K // 8),
    16: ("IQ2_XXS", _QK_K, 2 + _QK_K // 4),
    17: ("IQ2_XS", _QK_K, 2 + _QK_K // 4 + _QK_K // 32),
    18: ("IQ3_XXS", _QK_K, 2 + _QK_K // 4 + _QK_K // 8),
    19: ("IQ1_S", _QK_K, 2 + _QK_K // 8 + _QK_K // 16),
    20: ("IQ4_NL", 32, 2 + 16),
    21: ("IQ3_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
    22: ("IQ2_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 16),
    23: ("IQ4_XS", _QK_K, 2 + 2 + _QK_K // 2 + _QK_K // 64),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", _QK_K, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", _QK_K, 2 + 4 * 13),
    35: ("TQ2_0", _QK_K, 2 + 64),
    39: ("MXFP4", 32, 1 + 16),
}
# GGUF metadata value types with a fixed size in bytes (8 = string and 9 = array are variable).
_GGUF_FIXED: Final = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING: Final = 8
_GGUF_ARRAY: Final = 9
_GGUF_UINT32: Final = 4
_GGUF_MAX_DIMS: Final = 4
_GGUF_MAX_ARRAY_DEPTH: Final = 4
_GGUF_DEFAULT_ALIGNMENT: Final = 32

# Protobuf wire types.
_VARINT: Final = 0
_I64: Final = 1
_LEN: Final = 2
_I32: Final = 5
_ONNX_MAX_IR: Final = 100
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

#: Files that hold weights by their suffix (when their content matches no known format).
_WEIGHT_SUFFIXES: Final = frozenset(
    {
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".ckpt",
        ".pkl",
        ".pickle",
        ".onnx",
        ".gguf",
        ".h5",
        ".keras",
        ".msgpack",
        ".tflite",
        ".pb",
        ".mlmodel",
        ".npz",
        ".joblib",
    }
)
#: Suffixes whose content ``torch.load`` (or a known loader) would read: unrecognised content in
#: such a file is a failure, not merely unchecked.
_STRICT_SUFFIXES: Final = frozenset(
    {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".onnx", ".gguf"}
)
#: Trainer state that sits beside the weights in many repositories and is never loaded for
#: inference (it pickles training objects, so it would fail the weights_only check).
_AUXILIARY_NAMES: Final = frozenset(
    {"training_args.bin", "optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt"}
)
_AUXILIARY_PREFIXES: Final = ("rng_state",)


@attrs.frozen(kw_only=True)
class Readiness:
    """The outcome of a readiness check.

    Attributes:
        ready: True only when a real check of the file (or model) passed.
        checked: Which check ran (``safetensors.header``, ``torch.weights_only``, ``torch.jit``,
            ``gguf.header``, ``onnx.structure``, or several joined by ``+``), or None when none
            could run.
        reason: Why it is not ready (None when it is).
        details: Facts the check found (tensor counts, unsafe globals, limits, per-file results).
    """

    ready: bool
    checked: str | None
    reason: str | None
    details: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``readiness`` object stored in the install record."""
        return {"checked": self.checked, "reason": self.reason}


def _passed(checked: str, **details: Any) -> Readiness:
    return Readiness(ready=True, checked=checked, reason=None, details=details)


def _failed(checked: str | None, reason: str, **details: Any) -> Readiness:
    return Readiness(ready=False, checked=checked, reason=reason, details=details)


class _Malformed(Exception):
    """A structural check found the file malformed (the message says how)."""


# --------------------------------------------------------------------------------------------
# Format detection


def _read_head(path: Path, size: int = 64) -> bytes:
    with path.open("rb") as stream:
        return stream.read(size)


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "unknown"
    if any(
        name.endswith("constants.pkl") or name.startswith("code/") or "/code/" in name
        for name in names
    ):
        return "torchscript"
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "torch-zip"
    return "unknown"


def _read_varint(buf: bytes | mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        if pos >= end:
            raise _Malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise _Malformed("varint longer than 10 bytes")


def _looks_like_onnx(head: bytes) -> bool:
    if not head or head[0] != (1 << 3 | _VARINT):
        return False
    try:
        ir_version, pos = _read_varint(head, 1, len(head))
        if not 1 <= ir_version <= _ONNX_MAX_IR:
            return False
        tag, _ = _read_varint(head, pos, len(head))
    except _Malformed:
        return False
    field, wire = tag >> 3, tag & 7
    return field > 1 and wire in {_VARINT, _I64, _LEN, _I32}


def detect_format(path: Path) -> str:
    """Tell a model file's format from its bytes (the extension is ignored).

    See the module docstring for the exact rules.

    Args:
        path: The file.

    Returns:
        One of :data:`FORMATS`: ``safetensors``, ``torch-zip``, ``torchscript``,
        ``torch-pickle``, ``onnx``, ``gguf`` or ``unknown``.

    Raises:
        OSError: The file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    head = _read_head(path)
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # noqa: PLR2004 - protocols
        return "torch-pickle"
    if len(head) >= 9 and head[8:9] == b"{":  # noqa: PLR2004 - u64 length, then the JSON
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= size - 8:  # noqa: PLR2004 - "{}" is the smallest header
            return "safetensors"
    if _looks_like_onnx(head):
        return "onnx"
    return "unknown"


# --------------------------------------------------------------------------------------------
# safetensors


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Malformed(f"duplicate key {key!r} in the header")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise _Malformed(f"non-standard JSON constant {name} in the header")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_st_entry(name: str, entry: object) -> tuple[int, int, int, str]:
    """Validate one tensor entry; return (begin, end, elements, dtype)."""
    if not isinstance(entry, dict):
        raise _Malformed(f"tensor {name!r}: entry is not an object")
    missing = [key for key in ("dtype", "shape", "data_offsets") if key not in entry]
    if missing:
        raise _Malformed(f"tensor {name!r}: missing {', '.join(missing)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _ST_DTYPE_BITS:
        raise _Malformed(f"tensor {name!r}: unknown dtype {dtype!r}")
    if (
        not isinstance(shape, list)
        or len(shape) > _ST_MAX_DIMS
        or not all(_is_int(dim) and dim >= 0 for dim in shape)
    ):
        raise _Malformed(f"tensor {name!r}: shape must be a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2  # noqa: PLR2004 - [begin, end]
        or not all(_is_int(offset) and offset >= 0 for offset in offsets)
    ):
        raise _Malformed(f"tensor {name!r}: data_offsets must be [begin, end] integers")
    begin, end = offsets
    if end < begin:
        raise _Malformed(f"tensor {name!r}: data_offsets end before they begin")
    elements = math.prod(shape)
    bits = elements * _ST_DTYPE_BITS[dtype]
    if bits % 8:
        raise _Malformed(f"tensor {name!r}: {elements} x {dtype} is not a whole number of bytes")
    if end - begin != bits // 8:
        raise _Malformed(
            f"tensor {name!r}: data_offsets span {end - begin} bytes but shape {shape} of "
            f"{dtype} needs {bits // 8}"
        )
    return begin, end, elements, dtype


def _parse_st_header(raw: bytes) -> object:
    if not raw.startswith(b"{"):
        raise _Malformed("the header does not start with '{'")
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Malformed(f"the header is not valid JSON: {exc}") from None


def _validate_st_header(header: object, *, buffer_size: int, max_tensors: int) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise _Malformed("the header is not a JSON object")
    metadata = header.get("__metadata__")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
        )
    ):
        raise _Malformed("__metadata__ must map strings to strings")
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
    if len(tensors) > max_tensors:
        raise _Malformed(f"{len(tensors)} tensors exceed the limit of {max_tensors}")
    spans: list[tuple[int, int, str]] = []
    dtypes: set[str] = set()
    parameters = 0
    for name, entry in tensors.items():
        begin, end, elements, dtype = _validate_st_entry(name, entry)
        spans.append((begin, end, name))
        dtypes.add(dtype)
        parameters += elements
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin != position:
            relation = "overlaps the previous tensor" if begin < position else "leaves a gap"
            raise _Malformed(f"tensor {name!r}: data_offsets start at {begin}, {relation}")
        if end > buffer_size:
            raise _Malformed(
                f"tensor {name!r}: data_offsets end at {end}, beyond the {buffer_size}-byte "
                "data section"
            )
        position = end
    if position != buffer_size:
        raise _Malformed(
            f"the tensors cover {position} bytes but the data section has {buffer_size}"
        )
    return {
        "tensors": len(tensors),
        "parameters": parameters,
        "dtypes": sorted(dtypes),
        "metadata": len(metadata or {}),
    }


def check_safetensors(
    path: Path,
    *,
    max_header_bytes: int = _ST_MAX_HEADER,
    max_tensors: int = _ST_MAX_TENSORS,
) -> Readiness:
    """Validate a safetensors file's header without loading any tensor.

    Checks: the 8-byte header length is at most ``max_header_bytes`` and fits the file; the
    header is UTF-8 JSON (no duplicate keys, no NaN/Infinity) starting with ``{``; ``__metadata__``
    (if any) maps strings to strings; at most ``max_tensors`` entries; each has a known ``dtype``,
    a ``shape`` of non-negative integers and ``data_offsets`` ``[begin, end]`` spanning exactly
    ``prod(shape) * dtype size`` bytes; sorted by offset, the tensors start at 0, leave no gap or
    overlap, and end exactly at the end of the file (as the safetensors library requires).

    Args:
        path: The file.
        max_header_bytes: The largest header accepted (safetensors' own cap is 100 MB; a header
            that large still costs seconds and memory to parse).
        max_tensors: The most tensor entries accepted.

    Returns:
        ``ready=True`` with ``checked="safetensors.header"`` and the tensor count, parameter
        count and dtypes in ``details``; otherwise ``ready=False`` with the first problem found.
    """
    checked = "safetensors.header"
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            prefix = stream.read(8)
            if len(prefix) < 8:  # noqa: PLR2004 - the u64 length
                return _failed(checked, f"file too short for a safetensors header ({size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > max_header_bytes:
                return _failed(
                    checked,
                    f"header too large: {header_len} bytes declared, limit {max_header_bytes}",
                    header_bytes=header_len,
                )
            if header_len > size - 8:
                return _failed(
                    checked,
                    f"header length {header_len} exceeds the file ({size} bytes)",
                    header_bytes=header_len,
                )
            raw = stream.read(header_len)
    except OSError as exc:
        return _failed(checked, f"cannot read the file: {exc}")
    try:
        details = _validate_st_header(
            _parse_st_header(raw), buffer_size=size - 8 - header_len, max_tensors=max_tensors
        )
    except _Malformed as exc:
        return _failed(checked, f"invalid safetensors header: {exc}", header_bytes=header_len)
    return _passed(checked, header_bytes=header_len, **details)


# --------------------------------------------------------------------------------------------
# GGUF


class _Cursor:
    """Bounded little-endian reads from a file; reading past the end is :class:`_Malformed`."""

    def __init__(self, stream: Any, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > self.size:
            raise _Malformed(f"truncated: needs {count} bytes at offset {self.pos}")
        data: bytes = self.stream.read(count)
        if len(data) != count:
            raise _Malformed(f"truncated at offset {self.pos}")
        self.pos += count
        return data

    def skip(self, count: int) -> None:
        if count < 0 or self.pos + count > self.size:
            raise _Malformed(f"truncated: skips {count} bytes at offset {self.pos}")
        self.stream.seek(count, os.SEEK_CUR)
        self.pos += count

    def u32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value

    def string(self, what: str) -> bytes:
        length = self.u64()
        if length > self.size - self.pos:
            raise _Malformed(f"{what}: string of {length} bytes runs past the end of the file")
        return self.take(length)


def _skip_gguf_value(cursor: _Cursor, value_type: int, depth: int = 0) -> None:
    if value_type in _GGUF_FIXED:
        cursor.skip(_GGUF_FIXED[value_type])
    elif value_type == _GGUF_STRING:
        cursor.string("metadata value")
    elif value_type == _GGUF_ARRAY:
        if depth >= _GGUF_MAX_ARRAY_DEPTH:
            raise _Malformed("metadata arrays nested too deeply")
        item_type = cursor.u32()
        count = cursor.u64()
        if item_type in _GGUF_FIXED:
            cursor.skip(count * _GGUF_FIXED[item_type])
            return
        if count > (cursor.size - cursor.pos) // 8:
            raise _Malformed(f"metadata array of {count} items runs past the end of the file")
        for _ in range(count):
            _skip_gguf_value(cursor, item_type, depth + 1)
    else:
        raise _Malformed(f"unknown metadata value type {value_type}")


def _gguf_tensor_bytes(name: str, dims: list[int], type_id: int) -> int:
    if type_id not in _GGML_TYPES:
        raise _Malformed(
            f"tensor {name!r} has GGML type {type_id}, unknown to this check; its size cannot be "
            "verified"
        )
    type_name, block, block_bytes = _GGML_TYPES[type_id]
    if dims and dims[0] % block:
        raise _Malformed(
            f"tensor {name!r}: first dimension {dims[0]} is not a multiple of the {type_name} "
            f"block size {block}"
        )
    return math.prod(dims) // block * block_bytes


def _read_gguf_metadata(cursor: _Cursor, kv_count: int) -> int:
    """Walk the metadata key/values; return ``general.alignment`` (default 32)."""
    alignment = _GGUF_DEFAULT_ALIGNMENT
    for _ in range(kv_count):
        key = cursor.string("metadata key")
        value_type = cursor.u32()
        if key != b"general.alignment":
            _skip_gguf_value(cursor, value_type)
            continue
        if value_type != _GGUF_UINT32:
            raise _Malformed("general.alignment is not a uint32")
        alignment = cursor.u32()
        if alignment == 0 or alignment & (alignment - 1):
            raise _Malformed(f"general.alignment {alignment} is not a power of two")
    return alignment


def _read_gguf_tensors(cursor: _Cursor, tensor_count: int) -> list[tuple[str, int, int]]:
    """Read the tensor descriptions; return (name, data offset, size in bytes) for each."""
    infos: list[tuple[str, int, int]] = []
    names: set[str] = set()
    for _ in range(tensor_count):
        name = cursor.string("tensor name").decode("utf-8", "replace")
        if name in names:
            raise _Malformed(f"duplicate tensor name {name!r}")
        names.add(name)
        n_dims = cursor.u32()
        if n_dims > _GGUF_MAX_DIMS:
            raise _Malformed(f"tensor {name!r} has {n_dims} dimensions (at most 4)")
        dims = [cursor.u64() for _ in range(n_dims)]
        type_id = cursor.u32()
        offset = cursor.u64()
        infos.append((name, offset, _gguf_tensor_bytes(name, dims, type_id)))
    return infos


def _parse_gguf(cursor: _Cursor) -> dict[str, Any]:
    if cursor.take(4) != b"GGUF":
        raise _Malformed("no GGUF magic")
    version = cursor.u32()
    if version not in {2, 3}:
        raise _Malformed(f"unsupported GGUF version {version} (2 and 3 are)")
    tensor_count, kv_count = cursor.u64(), cursor.u64()
    # Each key/value needs at least 8 + 4 + 1 bytes and each tensor description 8 + 4 + 4 + 8.
    if kv_count > cursor.size // 13 or tensor_count > cursor.size // 24:
        raise _Malformed(
            f"{tensor_count} tensors and {kv_count} metadata entries cannot fit in the file"
        )
    alignment = _read_gguf_metadata(cursor, kv_count)
    infos = _read_gguf_tensors(cursor, tensor_count)
    data_start = -(-cursor.pos // alignment) * alignment
    expected = 0
    for name, offset, nbytes in infos:
        if offset != expected:
            raise _Malformed(f"tensor {name!r} is at data offset {offset}, expected {expected}")
        if data_start + offset + nbytes > cursor.size:
            raise _Malformed(f"tensor {name!r} runs past the end of the file")
        expected += -(-nbytes // alignment) * alignment
    return {
        "version": version,
        "tensors": tensor_count,
        "metadata_entries": kv_count,
        "alignment": alignment,
    }


def check_gguf(path: Path) -> Readiness:
    """Validate a GGUF file's header, metadata and tensor layout (no tensor data is read).

    Args:
        path: The file.

    Returns:
        ``ready=True`` with ``checked="gguf.header"`` when the structure is sound (see the module
        docstring for what is checked), else ``ready=False`` with the first problem found.
    """
    checked = "gguf.header"
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            details = _parse_gguf(_Cursor(stream, size))
    except OSError as exc:
        return _failed(checked, f"cannot read the file: {exc}")
    except _Malformed as exc:
        return _failed(checked, f"invalid GGUF file: {exc}")
    return _passed(checked, **details)


# --------------------------------------------------------------------------------------------
# ONNX


def _proto_fields(
    buf: bytes | mmap.mmap, start: int, end: int
) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field, wire type, value or start, length) for each field of a protobuf message."""
    pos = start
    while pos < end:
        tag, pos = _read_varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise _Malformed(f"field number 0 at offset {pos}")
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos, end)
            yield field, wire, value, 0
        elif wire in {_I64, _I32}:
            width = 8 if wire == _I64 else 4
            if pos + width > end:
                raise _Malformed(f"truncated fixed-width field {field}")
            yield field, wire, pos, width
            pos += width
        elif wire == _LEN:
            length, pos = _read_varint(buf, pos, end)
            if pos + length > end:
                raise _Malformed(f"field {field} of {length} bytes runs past its message")
            yield field, wire, pos, length
            pos += length
        else:
            raise _Malformed(f"unsupported wire type {wire} for field {field}")


def _external_data(buf: mmap.mmap, start: int, end: int) -> dict[str, str]:
    entry: dict[str, str] = {}
    for field, wire, value, length in _proto_fields(buf, start, end):
        if wire == _LEN and field in {1, 2}:
            text = bytes(buf[value : value + length]).decode("utf-8", "replace")
            entry["key" if field == 1 else "value"] = text
    return entry


def _read_tensor_proto(buf: mmap.mmap, start: int, end: int) -> tuple[str, int, dict[str, str]]:
    """Return a TensorProto's name, data_location and external_data entries."""
    external: dict[str, str] = {}
    location = 0
    name = "?"
    for field, wire, value, length in _proto_fields(buf, start, end):
        if field == _TENSOR_NAME and wire == _LEN:
            name = bytes(buf[value : value + length]).decode("utf-8", "replace")
        elif field == _TENSOR_EXTERNAL_DATA and wire == _LEN:
            entry = _external_data(buf, value, value + length)
            if "key" in entry:
                external[entry["key"]] = entry.get("value", "")
        elif field == _TENSOR_DATA_LOCATION and wire == _VARINT:
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
        raise _Malformed(f"initializer {name!r}: unsafe external data location {relative!r}")
    target = directory.joinpath(*parts)
    if not target.is_file():
        raise _Malformed(f"initializer {name!r}: external data file {relative!r} is missing")
    try:
        offset = int(external.get("offset") or 0)
        length = int(external.get("length") or 0)
    except ValueError:
        raise _Malformed(f"initializer {name!r}: bad external data offset/length") from None
    if offset < 0 or length < 0 or offset + length > target.stat().st_size:
        raise _Malformed(
            f"initializer {name!r}: external data [{offset}, {offset + length}) lies outside "
            f"{relative!r}"
        )
    return True


def _model_fields(buf: mmap.mmap, size: int) -> tuple[int | None, list[tuple[int, int]], int]:
    """Walk ModelProto's top level; return (ir_version, graph spans, opset_import count)."""
    expected_wire = {1: _VARINT, _MODEL_GRAPH: _LEN, _MODEL_OPSET_IMPORT: _LEN}
    ir_version: int | None = None
    graphs: list[tuple[int, int]] = []
    opsets = 0
    for field, wire, value, length in _proto_fields(buf, 0, size):
        if field in expected_wire and wire != expected_wire[field]:
            raise _Malformed(f"ModelProto field {field} has wire type {wire}")
        if field == 1:
            ir_version = value
        elif field == _MODEL_GRAPH:
            graphs.append((value, length))
        elif field == _MODEL_OPSET_IMPORT:
            opsets += 1
    return ir_version, graphs, opsets


def _parse_onnx(buf: mmap.mmap, size: int, directory: Path) -> dict[str, Any]:
    ir_version, graphs, opsets = _model_fields(buf, size)
    if ir_version is None or not 1 <= ir_version <= _ONNX_MAX_IR:
        raise _Malformed(f"missing or implausible ir_version {ir_version}")
    if not graphs:
        raise _Malformed("no graph")
    if ir_version >= _ONNX_OPSET_SINCE_IR and not opsets:
        raise _Malformed("no opset_import")
    nodes = initializers = external = 0
    for start, length in graphs:  # protobuf merges repeated occurrences of a message field
        for field, wire, value, sub_length in _proto_fields(buf, start, start + length):
            if field == _GRAPH_NODE and wire == _LEN:
                nodes += 1
            elif field == _GRAPH_INITIALIZER and wire == _LEN:
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
            return _failed(checked, "empty file")
        with (
            path.open("rb") as stream,
            mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            details = _parse_onnx(buf, size, path.parent)
    except OSError as exc:
        return _failed(checked, f"cannot read the file: {exc}")
    except _Malformed as exc:
        return _failed(checked, f"invalid ONNX model: {exc}")
    return _passed(checked, **details)


# --------------------------------------------------------------------------------------------
# torch (in a subprocess)


def _torch_version() -> str | None:
    """The installed torch's version: None when not installed, ``""`` when it cannot be told."""
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _torch_unavailable() -> Readiness | None:
    """A not-ready result when torch is missing or too old, else None."""
    version = _torch_version()
    if version is None:
        return _failed(None, _TORCH_HINT)
    if version and version_tuple(version) < MIN_TORCH:
        return _old_torch(version)
    return None


def _old_torch(version: str) -> Readiness:
    minimum = ".".join(map(str, MIN_TORCH))
    return _failed(
        None,
        f"torch {version} is too old to load untrusted files: weights_only=True can be bypassed "
        f"before {minimum} (CVE-2025-32434); pip install 'torch>={minimum}'",
        torch_version=version,
    )


def memory_limit_for(size_bytes: int) -> int:
    """The address-space limit of a torch check subprocess for a file of ``size_bytes``.

    Args:
        size_bytes: The size of the largest file the subprocess loads.

    Returns:
        ``3 * size_bytes + 2 GiB`` (see :data:`MEMORY_HEADROOM` for the measurements).
    """
    return MEMORY_FACTOR * size_bytes + MEMORY_HEADROOM


def _probe_command() -> list[str]:
    probe = Path(__file__).with_name("_torch_probe.py")
    # -P: never put the script's directory or the working directory on sys.path.
    if probe.is_file():
        return [sys.executable, "-P", str(probe)]
    return [sys.executable, "-P", "-m", "model_fetch.install._torch_probe"]  # pragma: no cover


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


def _crash_reason(returncode: int, stderr: str, limit: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    tail = f": {lines[-1][:300]}" if lines else ""
    if looks_like_memory_error(stderr):
        return (
            f"the load check ran out of memory under its {limit // MIB} MiB address-space limit "
            f"({_describe_exit(returncode)}{tail})"
        )
    return (
        f"the load check process died ({_describe_exit(returncode)}) under its {limit // MIB} MiB "
        f"address-space limit; the file may need more memory than that, or crash torch{tail}"
    )


def _from_record(record: dict[str, Any], *, fmt: str, limit: int) -> Readiness:
    checked = "torch.jit" if fmt == "torchscript" else "torch.weights_only"
    outcome = record.get("outcome")
    error = str(record.get("error", ""))
    facts = {"format": fmt, "torch_version": record.get("torch_version")}
    if record.get("ok"):
        return _passed(
            checked,
            tensors=record.get("tensors", 0),
            parameters=record.get("parameters", 0),
            mmap=record.get("mmap", False),
            **facts,
        )
    if outcome == "unsafe-globals":
        names = [str(name) for name in record.get("globals", [])]
        needs = (
            f"it needs the globals {', '.join(names)}, which weights_only does not allow"
            if names
            else error or "it holds objects weights_only does not allow"
        )
        return _failed(
            checked,
            f"torch.load(weights_only=True) refused it: {needs}; nothing in it was run, and it "
            "is never retried with weights_only=False",
            unsafe_globals=names,
            **facts,
        )
    if outcome == "memory":
        return _failed(
            checked,
            f"the load check ran out of memory under its {limit // MIB} MiB address-space "
            f"limit: {error}",
            memory_limit=limit,
            **facts,
        )
    if outcome == "no-torch":
        return _failed(None, f"{_TORCH_HINT}: {error}" if error else _TORCH_HINT)
    if outcome == "old-torch":
        return _old_torch(str(record.get("version", "?")))
    loader = "torch.jit.load" if fmt == "torchscript" else "torch.load(weights_only=True)"
    return _failed(checked, f"{loader} failed: {error}", **facts)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # the probe reports the missing file itself
        return 0


def _run_probe(
    jobs: Sequence[tuple[Path, str]],
    *,
    timeout: float,
    memory_limit: int | None,
) -> list[Readiness]:
    """Load ``(path, format)`` jobs in one subprocess; return one result per job, in order."""
    paths = [path.resolve() for path, _fmt in jobs]
    largest = max((_size(path) for path in paths), default=0)
    limit = memory_limit if memory_limit is not None else memory_limit_for(largest)
    command = [*_probe_command(), "--max-address-space", str(limit)]
    for path, (_orig, fmt) in zip(paths, jobs, strict=True):
        command += ["--jit", str(path)] if fmt == "torchscript" else [str(path)]
    deadline = timeout * len(jobs)
    log.debug("Running the torch load check on %d file(s), limit %d MiB", len(jobs), limit // MIB)
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
    results: list[Readiness] = []
    for path, (_orig, fmt) in zip(paths, jobs, strict=True):
        record = records.get(str(path))
        if record is not None:
            results.append(_from_record(record, fmt=fmt, limit=limit))
            continue
        checked = "torch.jit" if fmt == "torchscript" else "torch.weights_only"
        if timed_out:
            reason = f"the load check timed out after {deadline:g} s and was killed"
        else:
            reason = _crash_reason(returncode or 0, stderr, limit)
        results.append(_failed(checked, reason, format=fmt, memory_limit=limit))
    return results


def check_torch(
    path: Path,
    *,
    timeout: float = DEFAULT_TORCH_TIMEOUT,
    allow_torchscript: bool = False,
    memory_limit: int | None = None,
) -> Readiness:
    """Really load a PyTorch file, safely, in a subprocess.

    The subprocess runs ``torch.load(path, weights_only=True, map_location="cpu", mmap=...)``
    (``mmap`` only for zip checkpoints), or ``torch.jit.load`` for TorchScript when
    ``allow_torchscript`` is true. It is killed after ``timeout`` seconds (which include starting
    Python and importing torch, about 2 s) and its address space is capped at ``memory_limit``
    (default :func:`memory_limit_for` the file's size). The probe sets ``RLIMIT_AS`` on itself as
    its first action, before importing torch or opening the file, rather than in a
    ``preexec_fn``, which can deadlock a program that runs threads. ``weights_only=False`` is
    never used.

    Args:
        path: A ``torch.save`` file (zip or legacy pickle), or a TorchScript archive.
        timeout: Seconds the load may take.
        allow_torchscript: Load TorchScript archives too (this runs the code they contain).
        memory_limit: The subprocess's address-space limit in bytes.

    Returns:
        ``ready=True`` with ``checked="torch.weights_only"`` (or ``torch.jit``) and the tensor
        count in ``details``; otherwise ``ready=False`` with the reason, and the unsafe globals in
        ``details["unsafe_globals"]`` when that is why.
    """
    path = Path(path)
    try:
        fmt = detect_format(path)
    except OSError as exc:
        return _failed(None, f"cannot read the file: {exc}")
    if fmt not in {"torch-zip", "torch-pickle", "torchscript"}:
        return _failed(None, f"not a PyTorch file (its content is {fmt})", format=fmt)
    if fmt == "torchscript" and not allow_torchscript:
        return _failed(None, _TORCHSCRIPT_REFUSED, format=fmt)
    unavailable = _torch_unavailable()
    if unavailable is not None:
        return unavailable
    return _run_probe([(path, fmt)], timeout=timeout, memory_limit=memory_limit)[0]


# --------------------------------------------------------------------------------------------
# Dispatch


def _check_in_process(path: Path, fmt: str, *, allow_torchscript: bool) -> Readiness | None:
    """Run the in-process check of a format; None when the file needs the torch subprocess."""
    in_process = {"safetensors": check_safetensors, "gguf": check_gguf, "onnx": check_onnx}
    if fmt in in_process:
        return in_process[fmt](path)
    if fmt == "torchscript" and not allow_torchscript:
        return _failed(None, _TORCHSCRIPT_REFUSED, format=fmt)
    if fmt in {"torch-zip", "torch-pickle", "torchscript"}:
        return None
    return _failed(None, f"no check for format {fmt}", format=fmt)


def _check_many(
    paths: Sequence[Path],
    *,
    timeout: float,
    allow_torchscript: bool,
    memory_limit: int | None = None,
) -> dict[Path, tuple[str, Readiness]]:
    """Check files by their detected format; torch files share one subprocess."""
    results: dict[Path, tuple[str, Readiness]] = {}
    torch_jobs: list[tuple[Path, str]] = []
    for path in paths:
        try:
            fmt = detect_format(path)
        except OSError as exc:
            results[path] = ("unknown", _failed(None, f"cannot read the file: {exc}"))
            continue
        outcome = _check_in_process(path, fmt, allow_torchscript=allow_torchscript)
        if outcome is None:
            torch_jobs.append((path, fmt))
        else:
            results[path] = (fmt, outcome)
    if torch_jobs:
        unavailable = _torch_unavailable()
        if unavailable is not None:
            outcomes = [unavailable] * len(torch_jobs)
        else:
            outcomes = _run_probe(torch_jobs, timeout=timeout, memory_limit=memory_limit)
        for (path, fmt), outcome in zip(torch_jobs, outcomes, strict=True):
            results[path] = (fmt, outcome)
    return results


def check_file(
    path: Path,
    *,
    timeout: float = DEFAULT_TORCH_TIMEOUT,
    allow_torchscript: bool = False,
    memory_limit: int | None = None,
) -> Readiness:
    """Check one file with the check its detected format calls for.

    Args:
        path: The file.
        timeout: Seconds a torch load may take.
        allow_torchscript: Load TorchScript archives too (this runs their code).
        memory_limit: Address-space limit of the torch subprocess (default from the file size).

    Returns:
        The check's outcome; ``ready=False`` with ``reason="no check for format ..."`` when the
        content matches no format with a check.
    """
    path = Path(path)
    return _check_many(
        [path], timeout=timeout, allow_torchscript=allow_torchscript, memory_limit=memory_limit
    )[path][1]


# --------------------------------------------------------------------------------------------
# Verifiers and the model-level check


@runtime_checkable
class Verifier(Protocol):
    """A check of model files, built in or from a plugin.

    Plugins register a verifier (an instance, or a class or factory called with no arguments) under
    the ``model_fetch.verifiers`` entry-point group.

    Attributes:
        name: A short name, shown in results.
    """

    @property
    def name(self) -> str:
        """A short name, shown in results."""
        ...

    def check(self, path: Path) -> Readiness | None:
        """Check one file.

        Args:
            path: A file of the model.

        Returns:
            The outcome, or None when this verifier does not apply to the file.
        """
        ...


def _is_auxiliary(path: Path) -> bool:
    name = path.name.lower()
    return name in _AUXILIARY_NAMES or name.startswith(_AUXILIARY_PREFIXES)


def _is_weights(path: Path, fmt: str) -> bool:
    if _is_auxiliary(path):
        return False
    return fmt != "unknown" or path.suffix.lower() in _WEIGHT_SUFFIXES


@attrs.frozen(kw_only=True)
class BuiltinVerifier:
    """The built-in checks (:func:`check_file`), applied to weights files only.

    Attributes:
        name: ``builtin``.
        timeout: Seconds a torch load may take.
        allow_torchscript: Load TorchScript archives too (this runs their code).
    """

    name: str = "builtin"
    timeout: float = DEFAULT_TORCH_TIMEOUT
    allow_torchscript: bool = False

    def check(self, path: Path) -> Readiness | None:
        """Check a weights file; return None for any other file.

        Args:
            path: A file of the model.

        Returns:
            The outcome of :func:`check_file`, or None when the file does not hold weights.
        """
        path = Path(path)
        try:
            fmt = detect_format(path)
        except OSError as exc:
            return _failed(None, f"cannot read the file: {exc}")
        if not _is_weights(path, fmt):
            return None
        return check_file(path, timeout=self.timeout, allow_torchscript=self.allow_torchscript)


_plugins: list[Verifier] | None = None
_plugins_lock = threading.Lock()


def _load_plugins() -> list[Verifier]:
    global _plugins  # noqa: PLW0603 - plugins are read once per process, on first use
    with _plugins_lock:
        if _plugins is not None:
            return list(_plugins)
        loaded: list[Verifier] = []
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = entry_point.load()
                is_factory = isinstance(target, type) or not hasattr(target, "check")
                verifier = target() if is_factory else target
            except Exception:
                log.exception(
                    "Cannot load the verifier plugin %r (%s); it is skipped",
                    entry_point.name,
                    entry_point.value,
                )
                continue
            if not isinstance(verifier, Verifier):
                log.error(
                    "The verifier plugin %r (%s) has no name and check(); it is skipped",
                    entry_point.name,
                    entry_point.value,
                )
                continue
            loaded.append(verifier)
        _plugins = loaded
        return list(loaded)


def available_verifiers() -> list[Verifier]:
    """Return the built-in verifier followed by the plugins' (read on the first call).

    Returns:
        A new list: :class:`BuiltinVerifier` first, then each verifier registered under the
        ``model_fetch.verifiers`` entry-point group that loaded.
    """
    return [BuiltinVerifier(), *_load_plugins()]


def _expand(files: Path | Iterable[Path]) -> tuple[list[Path], Path | None]:
    if isinstance(files, str | os.PathLike):
        root = Path(files)
        if root.is_dir():
            return sorted(path for path in root.rglob("*") if path.is_file()), root
        return [root], None
    paths: list[Path] = []
    for item in files:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(sub for sub in path.rglob("*") if sub.is_file()))
        else:
            paths.append(path)
    try:
        return paths, Path(os.path.commonpath([path.parent for path in paths]))
    except ValueError:  # no files, or relative and absolute paths mixed
        return paths, None


def _label(path: Path, root: Path | None) -> str:
    if root is not None:
        with contextlib.suppress(ValueError):
            return path.relative_to(root).as_posix()
    return path.name


def _run_plugin(verifier: Verifier, path: Path) -> Readiness | None:
    try:
        outcome = verifier.check(path)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not pass a model
        log.warning("Verifier %r failed on %s: %s", verifier.name, path, exc)
        return _failed(verifier.name, f"verifier {verifier.name!r} failed: {exc}")
    if outcome is not None and not isinstance(outcome, Readiness):
        return _failed(
            verifier.name,
            f"verifier {verifier.name!r} returned {type(outcome).__name__}, not a Readiness",
        )
    return outcome


def _classify_builtin(path: Path, fmt: str, outcome: Readiness) -> str:
    """``passed``, ``failed`` or ``unchecked`` for a built-in result on a weights file."""
    if outcome.ready:
        return "passed"
    if outcome.checked is not None:
        return "failed"
    if fmt == "unknown" and path.suffix.lower() in _STRICT_SUFFIXES:
        return "failed"
    if outcome.reason and outcome.reason.startswith("cannot read"):
        return "failed"
    return "unchecked"


def check_model(
    files: Path | Iterable[Path],
    *,
    timeout: float = DEFAULT_TORCH_TIMEOUT,
    allow_torchscript: bool = False,
    verifiers: Sequence[Verifier] | None = None,
) -> Readiness:
    """Decide whether an installed model is ready for inference.

    Every weights file (a known weights format by content, or a weights suffix such as ``.bin``,
    ``.pt`` or ``.h5``; trainer state such as ``training_args.bin`` or ``optimizer.pt`` excepted)
    is checked by the built-in checks; torch files share one subprocess (``timeout`` applies per
    file). Each plugin verifier sees every file and returns None when it does not apply. Other
    files (JSON, text, tokenizers) are ignored.

    A file *fails* when a check ran and said no, when a plugin said no, or when a file with a
    torch, safetensors, GGUF or ONNX suffix has content of no known format. A file is *unchecked*
    when no check could run (TorchScript without opt-in, torch not installed, or a format without
    a check such as ``.h5``) and no plugin passed it. The model is ready when at least one file
    passed and none failed.

    Args:
        files: The model's files, or its directory (searched recursively).
        timeout: Seconds a torch load may take, per file.
        allow_torchscript: Load TorchScript archives too (this runs their code).
        verifiers: The verifiers to run (default :func:`available_verifiers`). The built-in
            checks run when a :class:`BuiltinVerifier` is among them, with this function's
            ``timeout`` and ``allow_torchscript``.

    Returns:
        The model's readiness: ``checked`` joins the checks that passed, ``reason`` lists the
        failing (or, when nothing passed, the unchecked) files with their reasons, and
        ``details["files"]`` holds every file's outcome.
    """
    paths, root = _expand(files)
    chosen = list(available_verifiers() if verifiers is None else verifiers)
    use_builtin = any(isinstance(item, BuiltinVerifier) for item in chosen)
    plugins = [item for item in chosen if not isinstance(item, BuiltinVerifier)]

    formats: dict[Path, str] = {}
    for path in paths:
        try:
            formats[path] = detect_format(path)
        except OSError:
            formats[path] = "unknown"
    weights = [path for path in paths if use_builtin and _is_weights(path, formats[path])]
    builtin_results = _check_many(weights, timeout=timeout, allow_torchscript=allow_torchscript)

    outcomes: dict[str, tuple[str, str, Readiness]] = {}
    for path in paths:
        verdict = _file_verdict(path, builtin_results.get(path), plugins)
        if verdict is not None:
            outcomes[_label(path, root)] = (verdict[0], formats[path], verdict[1])
    return _summarise(outcomes, len(paths))


def _file_verdict(
    path: Path,
    builtin: tuple[str, Readiness] | None,
    plugins: Sequence[Verifier],
) -> tuple[str, Readiness] | None:
    """One file's status (``passed``, ``failed``, ``unchecked``) and the result that decided it."""
    states: list[tuple[str, Readiness]] = []
    if builtin is not None:
        fmt, outcome = builtin
        states.append((_classify_builtin(path, fmt, outcome), outcome))
    for verifier in plugins:
        result = _run_plugin(verifier, path)
        if result is not None:
            states.append(("passed" if result.ready else "failed", result))
    for status in ("failed", "passed", "unchecked"):
        for state in states:
            if state[0] == status:
                return state
    return None


def _summarise(outcomes: dict[str, tuple[str, str, Readiness]], file_count: int) -> Readiness:
    """Combine per-file verdicts into the model's readiness."""
    by_status: dict[str, list[tuple[str, Readiness]]] = {
        "passed": [],
        "failed": [],
        "unchecked": [],
    }
    report: dict[str, dict[str, Any]] = {}
    for label, (status, fmt, outcome) in outcomes.items():
        by_status[status].append((label, outcome))
        report[label] = {"status": status, "format": fmt, **outcome.to_dict()}
    passed, failed, unchecked = by_status["passed"], by_status["failed"], by_status["unchecked"]
    details: dict[str, Any] = {
        "files": report,
        **{status: [label for label, _ in items] for status, items in by_status.items()},
    }
    ran = "+".join(sorted({outcome.checked for _, outcome in passed + failed if outcome.checked}))
    if failed:
        reason = "; ".join(f"{label}: {outcome.reason}" for label, outcome in failed)
        return _failed(ran or None, reason, **details)
    if not passed:
        if unchecked:
            reason = "no weights file passed a check; " + "; ".join(
                f"{label}: {outcome.reason}" for label, outcome in unchecked
            )
        else:
            reason = f"no weights file found among {file_count} file(s)"
        return _failed(None, reason, **details)
    return _passed(ran, **details)
