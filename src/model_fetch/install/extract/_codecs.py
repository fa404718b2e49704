"""Reading archive bytes: decompressors, and every decoding error turned into a refusal."""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import importlib
import lzma
import struct
import tarfile
import zipfile
import zlib
from typing import TYPE_CHECKING, Any, Final, Protocol

from model_fetch.install.extract._values import UnsafeArchive

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

__all__ = [
    "CHUNK",
    "TAR_BLOCK",
    "Readable",
    "decode_errors",
    "decoding",
    "open_decompressed",
    "read_exactly",
    "zstd",
]

CHUNK: Final = 1024 * 1024
TAR_BLOCK: Final = 512


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def zstd() -> ModuleType | None:
    """Return the ``zstandard`` module, or None when it is not installed."""
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


@functools.cache
def decode_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        tarfile.TarError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
        NotImplementedError,
        RuntimeError,
        struct.error,
        KeyError,
        UnicodeError,
    ]
    module = zstd()
    if module is not None:
        errors.append(module.ZstdError)
    return tuple(errors)


@contextlib.contextmanager
def decoding(archive: str, member: str | None) -> Iterator[None]:
    """Turn any error from reading or decompressing the archive into :class:`UnsafeArchive`."""
    try:
        yield
    except UnsafeArchive:
        raise
    except decode_errors() as exc:
        reason = f"corrupt or unreadable archive data ({type(exc).__name__}: {exc})"
        raise UnsafeArchive(archive=archive, member=member, reason=reason) from exc


def open_decompressed(stack: contextlib.ExitStack, path: Path, codec: str) -> Readable:
    """Open ``path`` and return a reader of its decompressed bytes (``codec`` from ``CODEC``)."""
    fh = stack.enter_context(path.open("rb"))
    if codec == "gzip":
        return stack.enter_context(gzip.GzipFile(fileobj=fh, mode="rb"))
    if codec == "bzip2":
        return stack.enter_context(bz2.BZ2File(fh))
    if codec == "xz":
        return stack.enter_context(lzma.LZMAFile(fh, format=lzma.FORMAT_XZ))
    if codec == "zstd":
        module = zstd()
        if module is None:  # pragma: no cover - callers check first
            msg = "zstandard is not installed"
            raise RuntimeError(msg)
        reader: Any = module.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        stack.callback(reader.close)
        return reader  # type: ignore[no-any-return]
    return fh


def read_exactly(src: Readable, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        data = src.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)
