"""The safetensors check: the header parsed and validated in full, no tensor read.

Size limits, known dtypes, shapes of non-negative integers, and ``data_offsets`` that match each
shape exactly, start at 0, leave no gap or overlap, and end exactly at the end of the file.
"""

from __future__ import annotations

import json
import math
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

__all__ = ["SafetensorsVerifier", "check_safetensors"]

MIB: Final = 1024 * 1024

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


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Malformed(f"duplicate key {key!r} in the header")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise Malformed(f"non-standard JSON constant {name} in the header")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_st_entry(name: str, entry: object) -> tuple[int, int, int, str]:
    """Validate one tensor entry; return (begin, end, elements, dtype)."""
    if not isinstance(entry, dict):
        raise Malformed(f"tensor {name!r}: entry is not an object")
    missing = [key for key in ("dtype", "shape", "data_offsets") if key not in entry]
    if missing:
        raise Malformed(f"tensor {name!r}: missing {', '.join(missing)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _ST_DTYPE_BITS:
        raise Malformed(f"tensor {name!r}: unknown dtype {dtype!r}")
    if (
        not isinstance(shape, list)
        or len(shape) > _ST_MAX_DIMS
        or not all(_is_int(dim) and dim >= 0 for dim in shape)
    ):
        raise Malformed(f"tensor {name!r}: shape must be a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2  # noqa: PLR2004 - [begin, end]
        or not all(_is_int(offset) and offset >= 0 for offset in offsets)
    ):
        raise Malformed(f"tensor {name!r}: data_offsets must be [begin, end] integers")
    begin, end = offsets
    if end < begin:
        raise Malformed(f"tensor {name!r}: data_offsets end before they begin")
    elements = math.prod(shape)
    bits = elements * _ST_DTYPE_BITS[dtype]
    if bits % 8:
        raise Malformed(f"tensor {name!r}: {elements} x {dtype} is not a whole number of bytes")
    if end - begin != bits // 8:
        raise Malformed(
            f"tensor {name!r}: data_offsets span {end - begin} bytes but shape {shape} of "
            f"{dtype} needs {bits // 8}"
        )
    return begin, end, elements, dtype


def _parse_st_header(raw: bytes) -> object:
    if not raw.startswith(b"{"):
        raise Malformed("the header does not start with '{'")
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Malformed(f"the header is not valid JSON: {exc}") from None


def _validate_st_header(header: object, *, buffer_size: int, max_tensors: int) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise Malformed("the header is not a JSON object")
    metadata = header.get("__metadata__")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
        )
    ):
        raise Malformed("__metadata__ must map strings to strings")
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
    if len(tensors) > max_tensors:
        raise Malformed(f"{len(tensors)} tensors exceed the limit of {max_tensors}")
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
            raise Malformed(f"tensor {name!r}: data_offsets start at {begin}, {relation}")
        if end > buffer_size:
            raise Malformed(
                f"tensor {name!r}: data_offsets end at {end}, beyond the {buffer_size}-byte "
                "data section"
            )
        position = end
    if position != buffer_size:
        raise Malformed(
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
                return failed(checked, f"file too short for a safetensors header ({size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > max_header_bytes:
                return failed(
                    checked,
                    f"header too large: {header_len} bytes declared, limit {max_header_bytes}",
                    header_bytes=header_len,
                )
            if header_len > size - 8:
                return failed(
                    checked,
                    f"header length {header_len} exceeds the file ({size} bytes)",
                    header_bytes=header_len,
                )
            raw = stream.read(header_len)
    except OSError as exc:
        return failed(checked, f"cannot read the file: {exc}")
    return _judge_header(raw, size=size, header_len=header_len, max_tensors=max_tensors)


def _judge_header(raw: bytes, *, size: int, header_len: int, max_tensors: int) -> Readiness:
    checked = "safetensors.header"
    try:
        details = _validate_st_header(
            _parse_st_header(raw), buffer_size=size - 8 - header_len, max_tensors=max_tensors
        )
    except Malformed as exc:
        return failed(checked, f"invalid safetensors header: {exc}", header_bytes=header_len)
    if details["tensors"]:
        return passed(checked, header_bytes=header_len, **details)
    return failed(checked, "the safetensors file holds no tensors", header_bytes=header_len)


@attrs.frozen(kw_only=True)
class SafetensorsVerifier(FormatVerifier):
    """The built-in safetensors check: :func:`check_safetensors`, then its library where installed.

    The library check is ``safetensors.safe_open``.

    Attributes:
        use_library: Load files with the safetensors library when it is installed (in a sandboxed
            subprocess); False runs the structural check alone.
    """

    name: ClassVar[str] = "safetensors"
    formats: ClassVar[frozenset[str]] = frozenset({"safetensors"})
    use_library: bool = True

    def judge(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        """Check each file's header, then load the sound ones with the library."""
        return judge_with_library(
            "safetensors",
            [file.path for file in files],
            options,
            structural=check_safetensors,
            use_library=self.use_library,
        )
