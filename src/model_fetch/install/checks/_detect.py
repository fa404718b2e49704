r"""Format detection from a file's bytes, done once per file and handed to every check.

Rules (:func:`detect_format`), in this order:

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

Which files hold weights is decided here too, from the detected format and the name: the
built-in checks judge weights files only.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import Final

import attrs

from model_fetch.install.checks._protobuf import VARINT, WIRE_TYPES, read_varint
from model_fetch.install.checks._readiness import Malformed

__all__ = [
    "FORMATS",
    "ONNX_MAX_IR",
    "STRICT_SUFFIXES",
    "TORCH_FORMATS",
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
    "unknown",
)
#: The formats ``torch.load`` (or ``torch.jit.load``) reads.
TORCH_FORMATS: Final = frozenset({"torch-zip", "torch-pickle", "torchscript"})
ONNX_MAX_IR: Final = 100

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
    so the checks skip them.

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
