"""Bounded reads of the protobuf wire format, shared by ONNX detection and the ONNX check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from model_fetch.install.checks._readiness import Malformed

if TYPE_CHECKING:
    import mmap
    from collections.abc import Iterator

__all__ = ["I32", "I64", "LEN", "VARINT", "WIRE_TYPES", "proto_fields", "read_varint"]

VARINT: Final = 0
I64: Final = 1
LEN: Final = 2
I32: Final = 5
#: The wire types a well-formed message may use (groups, 3 and 4, are long deprecated).
WIRE_TYPES: Final = frozenset({VARINT, I64, LEN, I32})


def read_varint(buf: bytes | mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    """Read a varint at ``pos`` that must end before ``end``; return (value, next position).

    Raises:
        Malformed: The varint is truncated or longer than 10 bytes.
    """
    value = shift = 0
    for _ in range(10):
        if pos >= end:
            raise Malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise Malformed("varint longer than 10 bytes")


def proto_fields(
    buf: bytes | mmap.mmap, start: int, end: int
) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field, wire type, value or start, length) for each field of a protobuf message.

    Raises:
        Malformed: A field is malformed or runs past ``end``.
    """
    pos = start
    while pos < end:
        tag, pos = read_varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise Malformed(f"field number 0 at offset {pos}")
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield field, wire, value, 0
        elif wire in {I64, I32}:
            width = 8 if wire == I64 else 4
            if pos + width > end:
                raise Malformed(f"truncated fixed-width field {field}")
            yield field, wire, pos, width
            pos += width
        elif wire == LEN:
            length, pos = read_varint(buf, pos, end)
            if pos + length > end:
                raise Malformed(f"field {field} of {length} bytes runs past its message")
            yield field, wire, pos, length
            pos += length
        else:
            raise Malformed(f"unsupported wire type {wire} for field {field}")
