r"""Format detection from a file's bytes and name together, once per file, for every check.

Rules (:func:`detect_format`), in this order:

1. ``GGUF`` magic -> ``gguf``.
2. A zip (``PK\x03\x04``) with a ``constants.pkl`` record or a ``code/`` directory ->
   ``torchscript``; with a record ending in ``data.pkl`` -> ``torch-zip``; with ``config.json``
   and ``model.weights.h5`` -> ``keras``.
3. ``\x80`` followed by protocol 2-5, or a protocol 0/1 pickle told by its opcodes ->
   ``torch-pickle`` (any pickle: it is what ``torch.load`` would unpickle).
4. An 8-byte little-endian header length N with ``2 <= N <= size - 8`` followed by ``{`` ->
   ``safetensors``.
5. Formats model_fetch has no check for, told apart so they are never misread: ``TFL3`` at byte
   4 -> ``tflite``; the HDF5 signature -> ``hdf5``; a file named ``saved_model.pb`` ->
   ``tf-savedmodel``; a ``.mlmodel`` file, or any file inside a ``.mlmodelc``/``.mlpackage``
   directory (CoreML's ``weight.bin``) -> ``coreml``.
6. A protobuf whose first field is field 1 (``ir_version``) as a varint in 1..100, followed by
   another well-formed tag, and (unless the file is named ``.onnx``) a ``graph`` (field 7) among
   its top-level fields -> ``onnx``. TensorFlow and CoreML protobufs start the same way but have
   no field 7.

Which files hold weights is decided here too, from the detected format and the name.
"""

from __future__ import annotations

import mmap
import struct
import zipfile
from pathlib import Path
from typing import Final

import attrs

from model_fetch.install.checks._pickles import is_pickle
from model_fetch.install.checks._protobuf import LEN, VARINT, WIRE_TYPES, proto_fields, read_varint
from model_fetch.install.checks._readiness import Malformed
from model_fetch.install.checks._zipcrc import ZIP_ERRORS

__all__ = [
    "FORMATS",
    "ONNX_MAX_IR",
    "STRICT_SUFFIXES",
    "TORCH_FORMATS",
    "UNCHECKED_FORMATS",
    "WEIGHT_SUFFIXES",
    "ModelFile",
    "detect_file",
    "detect_format",
    "is_auxiliary",
    "is_weights",
]

#: The formats :func:`detect_format` can answer.
FORMATS: Final = (
    "safetensors",
    "torch-zip",
    "torchscript",
    "torch-pickle",
    "onnx",
    "gguf",
    "tflite",
    "hdf5",
    "keras",
    "tf-savedmodel",
    "coreml",
    "unknown",
)
#: Formats told apart so they are never misread, which model_fetch has no check for.
UNCHECKED_FORMATS: Final = frozenset({"tflite", "hdf5", "keras", "tf-savedmodel", "coreml"})
#: The formats ``torch.load`` (or ``torch.jit.load``) reads.
TORCH_FORMATS: Final = frozenset({"torch-zip", "torch-pickle", "torchscript"})
ONNX_MAX_IR: Final = 100
_ONNX_GRAPH: Final = 7
_ONNX_HEAD_FIELDS: Final = 32
_HDF5_MAGIC: Final = b"\x89HDF\r\n\x1a\n"

#: Files that hold weights by their suffix (when their content matches no known format).
WEIGHT_SUFFIXES: Final = frozenset(
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
STRICT_SUFFIXES: Final = frozenset(
    {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".onnx", ".gguf"}
)
#: Trainer state that sits beside the weights in many repositories and is never loaded for
#: inference (it pickles training objects, so it would fail the weights_only check).
_AUXILIARY_NAMES: Final = frozenset(
    {"training_args.bin", "optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt"}
)
_AUXILIARY_PREFIXES: Final = ("rng_state",)


@attrs.frozen(kw_only=True)
class ModelFile:
    """One file of a model with its format, detected once and given to every verifier.

    Attributes:
        path: The file.
        format: One of :data:`FORMATS` (``unknown`` when the file could not be read).
        error: Why the file could not be read, or None when it was.
    """

    path: Path
    format: str
    error: str | None = None


def _read_head(path: Path, size: int = 64) -> bytes:
    with path.open("rb") as stream:
        return stream.read(size)


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (*ZIP_ERRORS, OSError):
        return "unknown"
    if any(
        name.endswith("constants.pkl") or name.startswith("code/") or "/code/" in name
        for name in names
    ):
        return "torchscript"
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "torch-zip"
    if "config.json" in names and "model.weights.h5" in names:
        return "keras"
    return "unknown"


def _looks_like_onnx(head: bytes) -> bool:
    if not head or head[0] != (1 << 3 | VARINT):
        return False
    try:
        ir_version, pos = read_varint(head, 1, len(head))
        if not 1 <= ir_version <= ONNX_MAX_IR:
            return False
        tag, _ = read_varint(head, pos, len(head))
    except Malformed:
        return False
    field, wire = tag >> 3, tag & 7
    return field > 1 and wire in WIRE_TYPES


def _has_onnx_graph(path: Path) -> bool:
    """Tell whether a protobuf's top level holds field 7 (ModelProto.graph), payloads skipped."""
    try:
        with (
            path.open("rb") as stream,
            mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            for index, (field, wire, _value, _length) in enumerate(proto_fields(buf, 0, len(buf))):
                if field == _ONNX_GRAPH:
                    return wire == LEN
                if field > _ONNX_GRAPH or index >= _ONNX_HEAD_FIELDS:
                    return False
    except (Malformed, ValueError, OSError):
        return False
    return False


def _unchecked_format(path: Path, head: bytes) -> str | None:
    """The no-check formats, by signature or by name (see rule 5)."""
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if path.name == "saved_model.pb":
        return "tf-savedmodel"
    if path.suffix.lower() == ".mlmodel" or any(
        parent.suffix.lower() in {".mlmodelc", ".mlpackage"} for parent in path.parents
    ):
        return "coreml"
    return None


def detect_format(path: Path) -> str:
    """Tell a model file's format from its bytes (the extension is ignored).

    See :mod:`model_fetch.install.checks` for the exact rules.

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
    found = _by_signature(path, head, size) or _unchecked_format(path, head)
    if found is not None:
        return found
    if _looks_like_onnx(head) and (path.suffix.lower() == ".onnx" or _has_onnx_graph(path)):
        return "onnx"
    if is_pickle(path, head):
        return "torch-pickle"
    return "unknown"


def _by_signature(path: Path, head: bytes, size: int) -> str | None:
    """Rules 1 to 4: the formats with a signature of their own."""
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
    return None


def detect_file(path: Path) -> ModelFile:
    """Detect a file's format once; a file that cannot be read is ``unknown`` with its error.

    Args:
        path: The file.

    Returns:
        The file with its format (never raises for an unreadable file).
    """
    path = Path(path)
    try:
        return ModelFile(path=path, format=detect_format(path))
    except OSError as exc:
        return ModelFile(path=path, format="unknown", error=str(exc))


def is_auxiliary(path: Path) -> bool:
    """Tell trainer state (``training_args.bin``, ``optimizer.pt``, ``rng_state*``) by its name.

    Such files sit beside the weights in many repositories and are never loaded for inference,
    so they are not weights; the pickle verifier still searches them for code that loading
    would run.

    Args:
        path: The file.

    Returns:
        True for trainer state.
    """
    name = Path(path).name.lower()
    return name in _AUXILIARY_NAMES or name.startswith(_AUXILIARY_PREFIXES)


def is_weights(file: ModelFile) -> bool:
    """Tell a weights file: a known format by content, or a weights suffix; never trainer state."""
    if is_auxiliary(file.path):
        return False
    return file.format != "unknown" or file.path.suffix.lower() in WEIGHT_SUFFIXES
