"""Recognising archives: a name that says archive and bytes that agree, or a refusal."""

from __future__ import annotations

import contextlib
import zipfile
from typing import TYPE_CHECKING, Final

from model_fetch.install.extract import _codecs
from model_fetch.install.extract._codecs import (
    TAR_BLOCK,
    decode_errors,
    decoding,
    open_decompressed,
    read_exactly,
)
from model_fetch.install.extract._values import UnsafeArchive

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ARCHIVE_KINDS",
    "CODEC",
    "MODEL_SUFFIXES",
    "SUFFIXES",
    "archive_kind",
    "inspect_archive",
]

#: Every kind :func:`archive_kind` can return.
ARCHIVE_KINDS: Final = (
    "zip",
    "tar",
    "tar.gz",
    "tar.bz2",
    "tar.xz",
    "tar.zst",
    "gz",
    "bz2",
    "xz",
    "zst",
)

#: Names ending in one of these are model files, never archives (``torch.save`` writes a zip).
MODEL_SUFFIXES: Final = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".onnx", ".gguf")

# Suffix -> kind, longest suffixes of a family first so ".tar.gz" wins over ".gz".
SUFFIXES: Final = (
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".tar.bz2", "tar.bz2"),
    (".tbz2", "tar.bz2"),
    (".tbz", "tar.bz2"),
    (".tar.xz", "tar.xz"),
    (".txz", "tar.xz"),
    (".tar.zst", "tar.zst"),
    (".tzst", "tar.zst"),
    (".zip", "zip"),
    (".tar", "tar"),
    (".gz", "gz"),
    (".bz2", "bz2"),
    (".xz", "xz"),
    (".zst", "zst"),
)

# Kind -> the container format its bytes must show.
CODEC: Final = {
    "zip": "zip",
    "tar": "tar",
    "tar.gz": "gzip",
    "tar.bz2": "bzip2",
    "tar.xz": "xz",
    "tar.zst": "zstd",
    "gz": "gzip",
    "bz2": "bzip2",
    "xz": "xz",
    "zst": "zstd",
}

TAR_MAGIC_OFFSET: Final = 257
HEAD_BYTES: Final = TAR_BLOCK


def kind_from_name(name: str) -> str | None:
    lower = name.lower()
    for suffix, kind in SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return kind
    return None


def sniff(head: bytes, label: str) -> str | None:
    """Return the container format the first bytes show, or None for none known."""
    found: list[str] = []
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        found.append("zip")
    if head.startswith(b"\x1f\x8b"):
        found.append("gzip")
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        found.append("bzip2")
    if head.startswith(b"\xfd7zXZ\x00"):
        found.append("xz")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        found.append("zstd")
    if head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar":
        found.append("tar")
    if len(found) > 1:
        reason = f"the bytes match several formats at once ({', '.join(found)})"
        raise UnsafeArchive(archive=label, reason=reason)
    return found[0] if found else None


def read_head(path: Path, label: str) -> bytes:
    with decoding(label, None), path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def is_model_zip(path: Path) -> bool:
    """Return True for a zip holding a ``data.pkl`` record (``torch.save`` output).

    An unreadable zip is no model file here: the name check or the extraction reports it.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = [info.orig_filename.replace("\\", "/") for info in zf.infolist()]
    except decode_errors():
        return False
    return any(name == "data.pkl" or name.endswith("/data.pkl") for name in names)


def inspect_archive(path: Path, label: str, kind: str) -> bool:
    """Check that the bytes of ``path`` are what ``kind`` says.

    Returns:
        True when the file is a model file (a zip holding ``data.pkl``) whatever its name.

    Raises:
        UnsafeArchive: The bytes disagree with ``kind``.
    """
    if kind in {"zst", "tar.zst"} and _codecs.zstd() is None:
        raise UnsafeArchive(
            archive=label,
            reason=f"a {kind} archive needs the 'zstandard' package, which is not installed",
        )
    codec = sniff(read_head(path, label), label)
    if codec == "zip" and is_model_zip(path):
        return True
    expected = CODEC[kind]
    if codec != expected:
        shown = f"{codec} data" if codec else "in no known archive format"
        reason = f"the name says {kind} but the bytes are {shown}"
        raise UnsafeArchive(archive=label, reason=reason)
    if kind.startswith("tar."):
        with decoding(label, None), contextlib.ExitStack() as stack:
            block = read_exactly(open_decompressed(stack, path, codec), TAR_BLOCK)
        if block[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] != b"ustar":
            reason = f"the name says {kind} but the decompressed data is not a tar archive"
            raise UnsafeArchive(archive=label, reason=reason)
    return False


def archive_kind(path: Path, name: str | None = None) -> str | None:
    """Tell whether a file is an archive to extract, from its name and its bytes together.

    Args:
        path: The file on disk.
        name: The file's real name (for example from its URL) when ``path`` is a temporary name.
            Defaults to ``path.name``.

    Returns:
        One of :data:`ARCHIVE_KINDS`, or None when the file is not an archive: its name has no
        archive suffix, ends in a model suffix (:data:`MODEL_SUFFIXES`), it is a zip holding a
        ``data.pkl`` record (a ``torch.save`` checkpoint), or it is ``.zst`` and the
        ``zstandard`` package is not installed.

    Raises:
        UnsafeArchive: The name says archive but the bytes disagree (for example a ``.zip`` that
            is gzip data, or a ``.tar.gz`` that is plain text or decompresses to no tar), or the
            bytes match several formats at once.
    """
    label = path.name if name is None else name
    lower = label.lower()
    if lower.endswith(MODEL_SUFFIXES):
        return None
    kind = kind_from_name(lower)
    if kind is None:
        return None
    if kind in {"zst", "tar.zst"} and _codecs.zstd() is None:
        return None
    return None if inspect_archive(path, label, kind) else kind
