"""A walk of every nested message of an ONNX model, as protobuf's own parser reads it.

``onnx.load`` parses every message-typed field recursively: a byte flipped inside a node, a
value_info, a type or an opset import breaks the parse even though the model's top level is well
framed. This walk does the same without the onnx library, from the message layout of
``onnx.proto`` (IR version 11): each field of a known message type is walked as that message,
packed repeated numbers must hold whole numbers, and string fields (names, keys, domains) must
be UTF-8. A field with an unexpected wire type is kept as an unknown field, as protobuf does;
unknown fields are only framed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from model_fetch.install.checks._protobuf import I32, I64, LEN, VARINT, proto_fields, read_varint
from model_fetch.install.checks._readiness import Malformed

if TYPE_CHECKING:
    import mmap

__all__ = ["check_graph_order", "walk_model"]

# Field kinds: "s" a UTF-8 string, "b" bytes, "i" a varint (packed or not), "f" a fixed32 and
# "d" a fixed64 (packed or not); any other name is a message of that type.
_ENTRY: Final = {1: "s", 2: "s"}
_SCHEMA: Final[dict[str, dict[int, str]]] = {
    "Model": {
        1: "i", 2: "s", 3: "s", 4: "s", 5: "i", 6: "s", 7: "Graph", 8: "OpsetId",
        14: "Entry", 20: "TrainingInfo", 25: "Function",
    },
    "OpsetId": {1: "s", 2: "i"},
    "Entry": _ENTRY,
    "Graph": {
        1: "Node", 2: "s", 5: "Tensor", 15: "SparseTensor", 10: "s", 11: "ValueInfo",
        12: "ValueInfo", 13: "ValueInfo", 14: "TensorAnnotation", 16: "Entry",
    },
    "Node": {1: "s", 2: "s", 3: "s", 4: "s", 7: "s", 5: "Attribute", 6: "s", 8: "s", 9: "Entry"},
    "Attribute": {
        1: "s", 21: "s", 13: "s", 20: "i", 2: "f", 3: "i", 4: "b", 5: "Tensor", 6: "Graph",
        22: "SparseTensor", 14: "Type", 7: "f", 8: "i", 9: "b", 10: "Tensor", 11: "Graph",
        23: "SparseTensor", 15: "Type",
    },
    "ValueInfo": {1: "s", 2: "Type", 3: "s", 4: "Entry"},
    "Type": {
        1: "TypeTensor", 4: "TypeSequence", 5: "TypeMap", 9: "TypeSequence",
        8: "TypeTensor", 6: "s",
    },
    "TypeTensor": {1: "i", 2: "Shape"},
    "TypeSequence": {1: "Type"},
    "TypeMap": {1: "i", 2: "Type"},
    "Shape": {1: "Dimension"},
    "Dimension": {1: "i", 2: "s", 3: "s"},
    "Tensor": {
        1: "i", 2: "i", 3: "Segment", 4: "f", 5: "i", 6: "b", 7: "i", 8: "s", 12: "s", 9: "b",
        13: "Entry", 14: "i", 10: "d", 11: "i", 16: "Entry",
    },
    "Segment": {1: "i", 2: "i"},
    "SparseTensor": {1: "Tensor", 2: "Tensor", 3: "i"},
    "TensorAnnotation": {1: "s", 2: "Entry"},
    "TrainingInfo": {1: "Graph", 2: "Entry", 3: "Graph", 4: "Entry"},
    "Function": {
        1: "s", 4: "s", 5: "s", 6: "s", 11: "Attribute", 7: "Node", 8: "s", 9: "OpsetId",
        10: "s", 13: "s", 12: "ValueInfo", 14: "Entry",
    },
}  # fmt: skip
_MAX_DEPTH: Final = 100  # protobuf's own recursion limit
_SCALAR_WIRE: Final = {"i": VARINT, "f": I32, "d": I64}
_WIDTH: Final = {"f": 4, "d": 8}


def _packed(buf: bytes | mmap.mmap, kind: str, start: int, length: int, where: str) -> None:
    if kind == "i":
        pos, end = start, start + length
        while pos < end:
            _, pos = read_varint(buf, pos, end)
    elif length % _WIDTH[kind]:
        raise Malformed(f"{where}: packed field of {length} bytes is not whole numbers")


def _text(buf: bytes | mmap.mmap, start: int, length: int, where: str) -> None:
    try:
        bytes(buf[start : start + length]).decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"{where}: a string that is not valid UTF-8") from None


def walk_model(buf: bytes | mmap.mmap, start: int, end: int, message: str = "Model") -> None:
    """Walk an ONNX message and every message nested in it.

    Args:
        buf: The model's bytes.
        start: Where the message starts.
        end: Where it ends.
        message: Its type (a key of the schema: ``Model``, ``Graph``, ``Node``, ...).

    Raises:
        Malformed: A message is badly framed, a packed field holds a partial number, or a string
            is not UTF-8; the message says where.
    """
    stack = [(message, start, end, message)]
    while stack:
        name, begin, finish, where = stack.pop()
        if where.count(".") >= _MAX_DEPTH:
            raise Malformed(f"{where}: messages nested more than {_MAX_DEPTH} deep")
        schema = _SCHEMA[name]
        for field, wire, value, length in proto_fields(buf, begin, finish):
            kind = schema.get(field)
            if kind is None:
                continue
            at = f"{where}.{field}"
            if kind in _SCALAR_WIRE:
                if wire == LEN:
                    _packed(buf, kind, value, length, at)
            elif wire != LEN:
                continue  # protobuf keeps a mismatched wire type as an unknown field
            elif kind == "s":
                _text(buf, value, length, at)
            elif kind != "b":
                stack.append((kind, value, value + length, f"{at}({kind})"))


#: The largest TensorProto.DataType onnx 1.23 knows (0 is UNDEFINED).
_MAX_DATA_TYPE: Final = 28


def _string(buf: bytes | mmap.mmap, start: int, length: int) -> str:
    return bytes(buf[start : start + length]).decode("utf-8", "replace")


def _names(buf: bytes | mmap.mmap, start: int, end: int, field_no: int) -> list[str]:
    return [
        _string(buf, value, length)
        for field, wire, value, length in proto_fields(buf, start, end)
        if field == field_no and wire == LEN
    ]


def _initializer_name(buf: bytes | mmap.mmap, start: int, end: int) -> str:
    name = ""
    for field, wire, value, length in proto_fields(buf, start, end):
        if field == 8 and wire == LEN:  # noqa: PLR2004 - TensorProto.name
            name = _string(buf, value, length)
        elif field == 2 and wire == VARINT and not 1 <= value <= _MAX_DATA_TYPE:  # noqa: PLR2004 - data_type
            raise Malformed(f"initializer {name or '?'!r}: invalid tensor data type {value}")
    return name


def check_graph_order(buf: bytes | mmap.mmap, graphs: list[tuple[int, int]]) -> None:
    """Check the main graph as ``onnx.checker`` does: every node input exists before the node.

    An input is a graph input, an initializer, or an output of an earlier node (the empty name
    is an omitted optional input); every node has an ``op_type``; every graph output is produced.
    Initializers must have a known data type. Operator schemas and shapes are not checked: only
    ``onnx.checker`` knows them.

    Raises:
        Malformed: A node reads a name nothing before it produces, or an initializer's data type
            is unknown.
    """
    known, nodes, outputs = _graph_parts(buf, graphs)
    for index, (start, end) in enumerate(nodes):
        if not any(_names(buf, start, end, 4)):
            raise Malformed(f"node {index} has no op_type")
        for name in _names(buf, start, end, 1):
            if name not in known:
                raise Malformed(
                    f"node {index} reads {name!r}, which no graph input, initializer or earlier "
                    "node provides (nodes must be in topological order)"
                )
        known.update(_names(buf, start, end, 2))
    missing = [name for name in outputs if name not in known]
    if missing:
        raise Malformed(f"graph output {missing[0]!r} is produced by nothing in the graph")


def _graph_parts(
    buf: bytes | mmap.mmap, graphs: list[tuple[int, int]]
) -> tuple[set[str], list[tuple[int, int]], list[str]]:
    """The names known before any node, the nodes' spans, and the graph's output names."""
    known: set[str] = {""}
    nodes: list[tuple[int, int]] = []
    outputs: list[str] = []
    for start, length in graphs:
        for field, wire, value, sub in proto_fields(buf, start, start + length):
            if wire != LEN:
                continue
            if field == 1:  # node
                nodes.append((value, value + sub))
            elif field == 12:  # noqa: PLR2004 - output
                outputs.extend(_names(buf, value, value + sub, 1))
            elif field == 11:  # noqa: PLR2004 - input (ValueInfoProto.name is field 1)
                known.update(_names(buf, value, value + sub, 1))
            elif field == 5:  # noqa: PLR2004 - initializer
                known.add(_initializer_name(buf, value, value + sub))
    return known, nodes, outputs
