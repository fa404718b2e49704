"""The GGUF check: header, metadata and tensor table within the file's bounds.

Magic, version 2 or 3, sane counts, every metadata key/value and tensor description parsed
within the file's bounds, ``general.alignment`` honoured, and every tensor's data at the offset
llama.cpp expects, of the size its GGML type and shape imply, inside the file. A tensor of a GGML
type this check does not know makes the file not ready (its size cannot be verified).
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from model_fetch.install.checks._library import judge_with_library
from model_fetch.install.checks._readiness import Malformed, Readiness, failed, passed
from model_fetch.install.checks._verifier import FormatVerifier

if TYPE_CHECKING:
    from collections.abc import Sequence

    from model_fetch.install.checks._detect import ModelFile
    from model_fetch.install.checks._verifier import CheckOptions

__all__ = ["GgufVerifier", "check_gguf"]

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
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}
# GGUF metadata value types with a fixed size in bytes (8 = string and 9 = array are variable).
_GGUF_FIXED: Final = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING: Final = 8
_GGUF_ARRAY: Final = 9
_GGUF_UINT32: Final = 4
_GGUF_MAX_DIMS: Final = 4
_GGUF_MAX_ARRAY_DEPTH: Final = 4
_GGUF_DEFAULT_ALIGNMENT: Final = 32


class _Unsupported(Exception):
    """The file uses a GGML type this check does not know: its soundness cannot be told."""


class _Cursor:
    """Bounded little-endian reads from a file; reading past the end is :class:`Malformed`."""

    def __init__(self, stream: Any, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > self.size:
            raise Malformed(f"truncated: needs {count} bytes at offset {self.pos}")
        data: bytes = self.stream.read(count)
        if len(data) != count:
            raise Malformed(f"truncated at offset {self.pos}")
        self.pos += count
        return data

    def skip(self, count: int) -> None:
        if count < 0 or self.pos + count > self.size:
            raise Malformed(f"truncated: skips {count} bytes at offset {self.pos}")
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
            raise Malformed(f"{what}: string of {length} bytes runs past the end of the file")
        return self.take(length)

    def text(self, what: str) -> str:
        """A string that must be UTF-8, as gguf's reader and llama.cpp require of names."""
        raw = self.string(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(f"{what} {raw[:40]!r} is not valid UTF-8") from None


def _skip_gguf_value(cursor: _Cursor, value_type: int, depth: int = 0) -> None:
    if value_type in _GGUF_FIXED:
        cursor.skip(_GGUF_FIXED[value_type])
    elif value_type == _GGUF_STRING:
        cursor.text("metadata string value")
    elif value_type == _GGUF_ARRAY:
        if depth >= _GGUF_MAX_ARRAY_DEPTH:
            raise Malformed("metadata arrays nested too deeply")
        item_type = cursor.u32()
        count = cursor.u64()
        if item_type in _GGUF_FIXED:
            cursor.skip(count * _GGUF_FIXED[item_type])
            return
        if count > (cursor.size - cursor.pos) // 8:
            raise Malformed(f"metadata array of {count} items runs past the end of the file")
        for _ in range(count):
            _skip_gguf_value(cursor, item_type, depth + 1)
    else:
        raise Malformed(f"unknown metadata value type {value_type}")


def _gguf_tensor_bytes(name: str, dims: list[int], type_id: int) -> int:
    if type_id not in _GGML_TYPES:
        raise _Unsupported(
            f"tensor {name!r} has tensor type {type_id}, which is not known to this version of "
            "model_fetch; its size cannot be verified"
        )
    type_name, block, block_bytes = _GGML_TYPES[type_id]
    if dims and dims[0] % block:
        raise Malformed(
            f"tensor {name!r}: first dimension {dims[0]} is not a multiple of the {type_name} "
            f"block size {block}"
        )
    return math.prod(dims) // block * block_bytes


def _read_gguf_metadata(cursor: _Cursor, kv_count: int) -> int:
    """Walk the metadata key/values; return ``general.alignment`` (default 32)."""
    alignment = _GGUF_DEFAULT_ALIGNMENT
    for _ in range(kv_count):
        key = cursor.text("metadata key")
        value_type = cursor.u32()
        if key != "general.alignment":
            _skip_gguf_value(cursor, value_type)
            continue
        if value_type != _GGUF_UINT32:
            raise Malformed("general.alignment is not a uint32")
        alignment = cursor.u32()
        if alignment == 0 or alignment & (alignment - 1):
            raise Malformed(f"general.alignment {alignment} is not a power of two")
    return alignment


def _read_gguf_tensors(cursor: _Cursor, tensor_count: int) -> list[tuple[str, int, int]]:
    """Read the tensor descriptions; return (name, data offset, size in bytes) for each."""
    infos: list[tuple[str, int, int]] = []
    names: set[str] = set()
    for _ in range(tensor_count):
        name = cursor.text("tensor name")
        if name in names:
            raise Malformed(f"duplicate tensor name {name!r}")
        names.add(name)
        n_dims = cursor.u32()
        if n_dims > _GGUF_MAX_DIMS:
            raise Malformed(f"tensor {name!r} has {n_dims} dimensions (at most 4)")
        dims = [cursor.u64() for _ in range(n_dims)]
        type_id = cursor.u32()
        offset = cursor.u64()
        infos.append((name, offset, _gguf_tensor_bytes(name, dims, type_id)))
    return infos


def _parse_gguf(cursor: _Cursor) -> dict[str, Any]:
    if cursor.take(4) != b"GGUF":
        raise Malformed("no GGUF magic")
    version = cursor.u32()
    if version not in {2, 3}:
        raise Malformed(f"unsupported GGUF version {version} (2 and 3 are)")
    tensor_count, kv_count = cursor.u64(), cursor.u64()
    # Each key/value needs at least 8 + 4 + 1 bytes and each tensor description 8 + 4 + 4 + 8.
    if kv_count > cursor.size // 13 or tensor_count > cursor.size // 24:
        raise Malformed(
            f"{tensor_count} tensors and {kv_count} metadata entries cannot fit in the file"
        )
    alignment = _read_gguf_metadata(cursor, kv_count)
    infos = _read_gguf_tensors(cursor, tensor_count)
    data_start = -(-cursor.pos // alignment) * alignment
    expected = 0
    for name, offset, nbytes in infos:
        if offset != expected:
            raise Malformed(f"tensor {name!r} is at data offset {offset}, expected {expected}")
        if data_start + offset + nbytes > cursor.size:
            raise Malformed(f"tensor {name!r} runs past the end of the file")
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
        return failed(checked, f"cannot read the file: {exc}")
    except Malformed as exc:
        return failed(checked, f"invalid GGUF file: {exc}")
    except _Unsupported as exc:
        return failed(None, f"unsupported: {exc}")
    if not details["tensors"]:
        return failed(
            checked, "the GGUF file holds no tensors (a vocabulary-only file has no weights)"
        )
    return passed(checked, **details)


@attrs.frozen(kw_only=True)
class GgufVerifier(FormatVerifier):
    """The built-in gguf check: :func:`check_gguf`, then its library where installed.

    The library check is ``gguf.GGUFReader``.

    Attributes:
        use_library: Load files with the gguf library when it is installed (in a sandboxed
            subprocess); False runs the structural check alone.
    """

    name: ClassVar[str] = "gguf"
    formats: ClassVar[frozenset[str]] = frozenset({"gguf"})
    use_library: bool = True

    def judge(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        """Check each file's structure, then load the sound ones with the library."""
        return judge_with_library(
            "gguf",
            [file.path for file in files],
            options,
            structural=check_gguf,
            use_library=self.use_library,
        )
