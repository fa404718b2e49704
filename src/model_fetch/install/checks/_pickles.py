"""Pickles anywhere in a model: read by their opcodes, never run, judged by an allow-list.

Every file of a model that the torch check does not load itself is searched for pickles: trainer
state (``training_args.bin``, ``optimizer.pt``, ``rng_state.pth``), pickles of any protocol (0 to
5) whatever their name, the ``.pkl`` records of any zip, and object arrays in ``.npy`` files and
``.npz`` archives (numpy unpickles those). Each pickle's globals are read statically (the
opcode scan of :mod:`model_fetch.install._torch_probe`: ``GLOBAL``, ``INST``, ``STACK_GLOBAL``
through a simulated stack, ``EXT``) and compared with the globals ``torch.load(weights_only=True)``
allows (:func:`allowed`); one outside the list would run code when loaded, so the file fails and
the model is not ready. Nothing in the file is executed. A user who trusts a file accepts it by
name (``CheckOptions.accept``).

Cost: one streaming pass over each pickle (a zip's pickle members and an ``.npy`` header only,
never the tensor data of a zip checkpoint).
"""

from __future__ import annotations

import ast
import re
import zipfile
from typing import IO, TYPE_CHECKING, Final

from model_fetch.install._torch_probe import globals_in_pickle
from model_fetch.install.checks._zipcrc import ZIP_ERRORS

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["NUMPY_MAGIC", "allowed", "is_pickle", "pickle_globals"]

NUMPY_MAGIC: Final = b"\x93NUMPY"
#: Opcodes a protocol 0 or 1 pickle can start with (protocol 2+ starts with PROTO, ``\x80``).
_FIRST_OPCODES: Final = frozenset(b"(]})NIJKLMFSTUVXcdlt")
_WINDOW: Final = 1 << 20
_MIN_OPCODES_IN_WINDOW: Final = 16
_MAX_PICKLES: Final = 5  # a legacy torch file is five pickles in a row
_ALLOWED_NAMES: Final = frozenset(
    {
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.set",
        "collections.Counter",
        "collections.OrderedDict",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "torch._tensor._rebuild_from_type_v2",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
    }
)
#: torch's storage and legacy tensor classes, its rebuild functions, its dtypes and qschemes.
_ALLOWED_PATTERN: Final = re.compile(
    r"torch\.(cuda\.|cuda\.sparse\.|sparse\.)?[A-Z][A-Za-z0-9]*(Storage|Tensor)"
    r"|torch\._utils\._rebuild_[a-z0-9_]+"
    r"|torch\.(u?int[0-9]+|float[0-9][a-z0-9_]*|bfloat16|bool|complex[0-9]+|bits[0-9x]+"
    r"|q?u?int[0-9]+(x[0-9]+)?|per_[a-z_]+)"
)


def allowed(name: str) -> bool:
    """Tell whether ``torch.load(weights_only=True)`` accepts a global by default (torch 2.6+)."""
    return name in _ALLOWED_NAMES or _ALLOWED_PATTERN.fullmatch(name) is not None


class _Window:
    """The first bytes of a file, readable as a stream (for telling a pickle cheaply)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, count: int = -1) -> bytes:
        end = len(self.data) if count < 0 else self.pos + count
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk

    def readline(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk


def is_pickle(path: Path, head: bytes) -> bool:
    r"""Tell a pickle of protocol 0 or 1 by parsing its opcodes (protocol 2+ starts ``\\x80``).

    The first MiB is parsed: it must reach ``STOP``, or fill the window with at least 16 opcodes
    (a text file fails within a few bytes: spaces are no opcode).
    """
    import pickletools  # noqa: PLC0415 - only for files of no other format

    if not head or head[0] not in _FIRST_OPCODES:
        return False
    with path.open("rb") as stream:
        data = stream.read(_WINDOW)
    count = 0
    try:
        for opcode, _arg, _pos in pickletools.genops(_Window(data)):  # type: ignore[arg-type]
            count += 1
            if opcode.name == "STOP":
                return True
    except (ValueError, EOFError, IndexError, UnicodeDecodeError, OverflowError):
        return len(data) == _WINDOW and count >= _MIN_OPCODES_IN_WINDOW
    return False


def _globals_of_stream(stream: IO[bytes], *, pickles: int = _MAX_PICKLES) -> list[str]:
    found: dict[str, None] = {}
    for index in range(pickles):
        try:
            found.update(dict.fromkeys(globals_in_pickle(stream)))
        except (ValueError, EOFError, IndexError, UnicodeDecodeError, OverflowError):
            if index == 0:
                raise
            break
    return list(found)


def _npy_globals(stream: IO[bytes]) -> list[str] | None:
    """The globals of an ``.npy`` object array's pickle; None when the array holds no objects."""
    magic = stream.read(8)
    if not magic.startswith(NUMPY_MAGIC):
        return None
    width = 2 if magic[6] == 1 else 4
    length = int.from_bytes(stream.read(width), "little")
    header = stream.read(length).decode("latin-1")
    try:
        descr = ast.literal_eval(header).get("descr")
    except (ValueError, SyntaxError, AttributeError, MemoryError, RecursionError):
        return None
    if "O" not in repr(descr):
        return None
    return ["numpy (an object array: numpy.load(allow_pickle=True) unpickles it)"] + [
        name for name in _globals_of_stream(stream, pickles=1) if not allowed(name)
    ]


def _zip_globals(path: Path) -> list[str] | None:
    found: dict[str, None] = {}
    pickled = False
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".pkl"):
                with archive.open(name) as stream:
                    found.update(dict.fromkeys(_globals_of_stream(stream, pickles=1)))
                pickled = True
            elif name.endswith(".npy"):
                with archive.open(name) as stream:
                    inner = _npy_globals(stream)
                if inner is not None:
                    found.update(dict.fromkeys(inner))
                    pickled = True
    return list(found) if pickled else None


def pickle_globals(path: Path, head: bytes) -> list[str] | None:
    """Every global the file's pickles reference; None when the file holds no pickle.

    Args:
        path: The file.
        head: Its first bytes.

    Returns:
        ``module.name`` strings (``?`` for a part that cannot be resolved statically), or None.

    Raises:
        OSError: The file cannot be read.
        ValueError: A pickle in it is malformed.
    """
    if head.startswith(b"PK\x03\x04"):
        try:
            return _zip_globals(path)
        except ZIP_ERRORS:
            return None
    with path.open("rb") as stream:
        if head.startswith(NUMPY_MAGIC):
            return _npy_globals(stream)
        if (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or is_pickle(  # noqa: PLR2004 - protocols
            path, head
        ):
            return _globals_of_stream(stream)
    return None
