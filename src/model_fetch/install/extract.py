"""Safe extraction of downloaded archives: zip, tar (plain or compressed) and single-file streams.

An archive is extracted only when its *name* says archive (by suffix) and its *bytes* agree (by
magic number); a disagreement is an error, never a guess. Model files are never unpacked, even
though ``torch.save`` writes a zip: names ending in a model suffix (``.pt``, ``.safetensors``, ...)
are never archives, and neither is a zip holding a ``data.pkl`` record.

Extraction is stricter than :mod:`tarfile`'s ``filter="data"`` (which this interpreter runs with
known bypasses) and than :meth:`zipfile.ZipFile.extractall` (which silently rewrites unsafe
names):

1. Every member is checked *before anything is written*, and the whole archive is refused if any
   member is a link, a device, a FIFO or anything else that is not a regular file or a directory;
   has an absolute name, ``..``, a backslash, a drive letter or a NUL; duplicates another member;
   lies inside a file member; or exceeds the depth, path-length or member-count limits. Tar members
   also pass ``tarfile.data_filter`` as a second layer, and zip entries must not overlap.
2. Files are written only into an existing, empty directory, through paths built from that
   directory and validated segments, with mode ``0o644`` (directories ``0o755``).
3. The bytes *actually written* are counted (header sizes are never trusted) and extraction stops
   at the per-file, total and compression-ratio limits, which defeats zip and gzip bombs.
4. On any failure everything written is removed, leaving the directory empty, and
   :class:`UnsafeArchive` is raised. (An ``OSError`` from writing, such as a full disk, is raised
   as it is, after the same clean-up.)
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import hashlib
import importlib
import lzma
import os
import shutil
import stat
import struct
import tarfile
import zipfile
import zlib
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

import attrs

from model_fetch._paths import validate_relpath
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

__all__ = [
    "ARCHIVE_KINDS",
    "DEFAULT_LIMITS",
    "MODEL_SUFFIXES",
    "ExtractLimits",
    "ExtractedFile",
    "UnsafeArchive",
    "archive_kind",
    "extract",
]

GiB: Final = 1024**3
_CHUNK: Final = 1024 * 1024
_TAR_BLOCK: Final = 512

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
_SUFFIXES: Final = (
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
_CODEC: Final = {
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

_TAR_MAGIC_OFFSET: Final = 257
_HEAD_BYTES: Final = _TAR_BLOCK
_ZIP_LOCAL_HEADER: Final = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_ZIP_ENCRYPTED: Final = 0x1
_ZIP_METHODS: Final = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA},
)
_DRIVE_LETTER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class UnsafeArchive(InvalidRequest):
    """An archive was refused: unsafe, corrupt, over a limit, or not what its name says (400).

    Attributes:
        archive: The archive's file name.
        member: The offending member's name as stored in the archive, or None when the archive as
            a whole is at fault.
        reason: Why it was refused, in words (a limit that was exceeded is named).
    """

    archive: str
    member: str | None
    reason: str

    def __init__(
        self,
        message: str | None = None,
        *,
        archive: str,
        member: str | None = None,
        reason: str,
    ) -> None:
        """Create the error.

        Args:
            message: The full message; built from the other arguments when None.
            archive: The archive's file name.
            member: The offending member, if one is to blame.
            reason: Why the archive was refused.
        """
        if message is None:
            where = f"archive {archive!r}" if member is None else f"{member!r} in {archive!r}"
            message = f"refused {where}: {reason}"
        super().__init__(message)
        self.archive = archive
        self.member = member
        self.reason = reason


@attrs.frozen(kw_only=True)
class ExtractLimits:
    """Limits that bound what one archive may write.

    The path limits can only tighten the project's own path rules (at most 32 segments and 1024
    characters, see :func:`model_fetch._paths.validate_relpath`).

    Attributes:
        max_total_bytes: Bytes written for all files together.
        max_members: Members (files, directories and anything else) in the archive.
        max_file_bytes: Bytes written for any one file.
        max_ratio: Bytes written per byte of the archive file; for zip also per member (bytes
            written per compressed byte of that entry).
        max_depth: Path segments in a member's name.
        max_path_length: UTF-8 bytes in a member's name.
    """

    max_total_bytes: int = attrs.field(
        default=50 * GiB,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_members: int = attrs.field(
        default=100_000,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_file_bytes: int = attrs.field(
        default=20 * GiB,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_ratio: float = attrs.field(
        default=1000,
        validator=[attrs.validators.instance_of((int, float)), attrs.validators.gt(0)],
    )
    max_depth: int = attrs.field(
        default=32,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_path_length: int = attrs.field(
        default=1024,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )


#: The limits :func:`extract` applies unless told otherwise.
DEFAULT_LIMITS: Final = ExtractLimits()


@attrs.frozen(kw_only=True)
class ExtractedFile:
    """One regular file written by :func:`extract`.

    Attributes:
        path: Its path relative to the destination, with ``/`` separators.
        size: The bytes written.
        sha256: The hex SHA-256 of those bytes, computed while writing.
    """

    path: str
    size: int
    sha256: str


# --------------------------------------------------------------------------------------------
# Recognising archives


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _zstd() -> ModuleType | None:
    """Return the ``zstandard`` module, or None when it is not installed."""
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


@functools.cache
def _decode_errors() -> tuple[type[BaseException], ...]:
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
    zstd = _zstd()
    if zstd is not None:
        errors.append(zstd.ZstdError)
    return tuple(errors)


@contextlib.contextmanager
def _decoding(archive: str, member: str | None) -> Iterator[None]:
    """Turn any error from reading or decompressing the archive into :class:`UnsafeArchive`."""
    try:
        yield
    except UnsafeArchive:
        raise
    except _decode_errors() as exc:
        reason = f"corrupt or unreadable archive data ({type(exc).__name__}: {exc})"
        raise UnsafeArchive(archive=archive, member=member, reason=reason) from exc


def _kind_from_name(name: str) -> str | None:
    lower = name.lower()
    for suffix, kind in _SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return kind
    return None


def _sniff(head: bytes, label: str) -> str | None:
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
    if head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar":
        found.append("tar")
    if len(found) > 1:
        reason = f"the bytes match several formats at once ({', '.join(found)})"
        raise UnsafeArchive(archive=label, reason=reason)
    return found[0] if found else None


def _read_head(path: Path, label: str) -> bytes:
    with _decoding(label, None), path.open("rb") as fh:
        return fh.read(_HEAD_BYTES)


def _is_model_zip(path: Path) -> bool:
    """Return True for a zip holding a ``data.pkl`` record (``torch.save`` output).

    An unreadable zip is no model file here: the name check or the extraction reports it.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = [info.orig_filename.replace("\\", "/") for info in zf.infolist()]
    except _decode_errors():
        return False
    return any(name == "data.pkl" or name.endswith("/data.pkl") for name in names)


def _open_decompressed(stack: contextlib.ExitStack, path: Path, codec: str) -> _Readable:
    """Open ``path`` and return a reader of its decompressed bytes (``codec`` from ``_CODEC``)."""
    fh = stack.enter_context(path.open("rb"))
    if codec == "gzip":
        return stack.enter_context(gzip.GzipFile(fileobj=fh, mode="rb"))
    if codec == "bzip2":
        return stack.enter_context(bz2.BZ2File(fh))
    if codec == "xz":
        return stack.enter_context(lzma.LZMAFile(fh, format=lzma.FORMAT_XZ))
    if codec == "zstd":
        zstd = _zstd()
        if zstd is None:  # pragma: no cover - callers check first
            msg = "zstandard is not installed"
            raise RuntimeError(msg)
        reader: Any = zstd.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        stack.callback(reader.close)
        return reader  # type: ignore[no-any-return]
    return fh


def _read_exactly(src: _Readable, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        data = src.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def _inspect(path: Path, label: str, kind: str) -> bool:
    """Check that the bytes of ``path`` are what ``kind`` says.

    Returns:
        True when the file is a model file (a zip holding ``data.pkl``) whatever its name.

    Raises:
        UnsafeArchive: The bytes disagree with ``kind``.
    """
    if kind in {"zst", "tar.zst"} and _zstd() is None:
        raise UnsafeArchive(
            archive=label,
            reason=f"a {kind} archive needs the 'zstandard' package, which is not installed",
        )
    codec = _sniff(_read_head(path, label), label)
    if codec == "zip" and _is_model_zip(path):
        return True
    expected = _CODEC[kind]
    if codec != expected:
        shown = f"{codec} data" if codec else "in no known archive format"
        reason = f"the name says {kind} but the bytes are {shown}"
        raise UnsafeArchive(archive=label, reason=reason)
    if kind.startswith("tar."):
        with _decoding(label, None), contextlib.ExitStack() as stack:
            block = _read_exactly(_open_decompressed(stack, path, codec), _TAR_BLOCK)
        if block[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] != b"ustar":
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
    kind = _kind_from_name(lower)
    if kind is None:
        return None
    if kind in {"zst", "tar.zst"} and _zstd() is None:
        return None
    return None if _inspect(path, label, kind) else kind


# --------------------------------------------------------------------------------------------
# The pre-scan


@attrs.frozen(kw_only=True)
class _Job:
    """One extraction: the archive, where it goes, and its limits."""

    path: Path
    dest: Path
    label: str
    kind: str
    limits: ExtractLimits
    archive_size: int


@attrs.define
class _Entry:
    path: str
    is_dir: bool
    size: int


def _normalise_name(label: str, raw: str, *, is_dir: bool) -> str | None:
    """Return a member's name without ``./`` prefixes or a directory's trailing ``/``.

    None stands for the archive's root directory (``.`` or ``./``), which is skipped.
    """

    def refuse(reason: str) -> UnsafeArchive:
        return UnsafeArchive(archive=label, member=raw, reason=reason)

    if "\x00" in raw:
        raise refuse("the name contains a NUL character")
    if "\\" in raw:
        raise refuse("the name contains a backslash")
    name = raw.removesuffix("/") if is_dir else raw
    while name.startswith("./"):
        name = name[2:]
    if name in {"", "."}:
        if is_dir:
            return None
        raise refuse("the name is empty")
    if name.startswith("/"):
        raise refuse("the name is absolute")
    if len(name) >= 2 and name[1] == ":" and name[0] in _DRIVE_LETTER:  # noqa: PLR2004
        raise refuse("the name starts with a drive letter")
    return name


def _check_path(label: str, raw: str, name: str, limits: ExtractLimits) -> None:
    """Check a normalised member path against ``..``, the limits and the project's path rules."""

    def refuse(reason: str) -> UnsafeArchive:
        return UnsafeArchive(archive=label, member=raw, reason=reason)

    segments = name.split("/")
    if ".." in segments:
        raise refuse("the name contains '..'")
    if len(segments) > limits.max_depth:
        raise refuse(f"the path is deeper than max_depth ({limits.max_depth} levels)")
    try:
        length = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise refuse("the name is not valid UTF-8") from None
    if length > limits.max_path_length:
        raise refuse(f"the path is longer than max_path_length ({limits.max_path_length} bytes)")
    try:
        validate_relpath(name)
    except InvalidRequest as exc:
        raise refuse(str(exc)) from None


def _check_name(label: str, raw: str, *, is_dir: bool, limits: ExtractLimits) -> str | None:
    """Validate a member name and return its normalised path (None for the root directory)."""
    name = _normalise_name(label, raw, is_dir=is_dir)
    if name is not None:
        _check_path(label, raw, name, limits)
    return name


class _Plan:
    """The members of an archive, checked one by one and then as a whole."""

    def __init__(self, label: str, limits: ExtractLimits, archive_size: int) -> None:
        self.label = label
        self.limits = limits
        self.archive_size = archive_size
        self.entries: list[_Entry | None] = []
        self._is_dir: dict[str, bool] = {}
        self._declared = 0

    def add(self, raw: str, *, is_dir: bool, size: int) -> _Entry | None:
        limits = self.limits
        if len(self.entries) >= limits.max_members:
            reason = f"it has more than max_members ({limits.max_members}) members"
            raise UnsafeArchive(archive=self.label, reason=reason)
        path = _check_name(self.label, raw, is_dir=is_dir, limits=limits)
        if path is None:
            self.entries.append(None)
            return None
        if path in self._is_dir:
            reason = f"the path {path!r} appears more than once"
            raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
        self._is_dir[path] = is_dir
        if not is_dir:
            # Early refusal on the sizes the headers declare; the bytes written are what count.
            self._declared += size
            if size > limits.max_file_bytes:
                reason = f"its declared size exceeds max_file_bytes ({limits.max_file_bytes})"
                raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
            if self._declared > limits.max_total_bytes:
                reason = f"the declared sizes exceed max_total_bytes ({limits.max_total_bytes})"
                raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
            if self._declared > limits.max_ratio * max(self.archive_size, 1):
                reason = f"the declared sizes exceed max_ratio ({limits.max_ratio}:1)"
                raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
        entry = _Entry(path=path, is_dir=is_dir, size=size)
        self.entries.append(entry)
        return entry

    def finish(self) -> None:
        """Refuse a member that would lie inside a file member."""
        for path in self._is_dir:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                ancestor = "/".join(parts[:depth])
                if self._is_dir.get(ancestor) is False:
                    reason = f"it would lie inside the file member {ancestor!r}"
                    raise UnsafeArchive(archive=self.label, member=path, reason=reason)


# --------------------------------------------------------------------------------------------
# Writing


class _Budget:
    """Counts the bytes written and refuses the first chunk that would pass a limit."""

    def __init__(self, label: str, limits: ExtractLimits, archive_size: int) -> None:
        self.label = label
        self.limits = limits
        self.archive_size = max(archive_size, 1)
        self.total = 0

    def charge(self, member: str, written: int, more: int, compressed: int | None) -> None:
        limits = self.limits
        file_bytes = written + more
        total = self.total + more
        reason = None
        if file_bytes > limits.max_file_bytes:
            reason = f"the file exceeds max_file_bytes ({limits.max_file_bytes} bytes)"
        elif total > limits.max_total_bytes:
            reason = f"the files exceed max_total_bytes ({limits.max_total_bytes} bytes)"
        elif total > limits.max_ratio * self.archive_size:
            reason = (
                f"more than max_ratio ({limits.max_ratio}) bytes written per archive byte"
                " (a decompression bomb?)"
            )
        elif compressed is not None and file_bytes > limits.max_ratio * max(compressed, 1):
            reason = (
                f"the entry expands more than max_ratio ({limits.max_ratio}) times"
                " (a decompression bomb?)"
            )
        if reason is not None:
            raise UnsafeArchive(archive=self.label, member=member, reason=reason)
        self.total = total


def _make_dirs(label: str, dest: Path, parts: list[str]) -> Path:
    """Create ``dest/parts...`` one level at a time, refusing anything but real directories."""
    current = dest
    for part in parts:
        current /= part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            current.chmod(0o755)
            continue
        if not stat.S_ISDIR(mode):
            reason = "a parent path exists and is not a directory"
            raise UnsafeArchive(archive=label, member="/".join(parts), reason=reason)
    return current


def _copy(
    src: _Readable,
    target: Path,
    *,
    member: str,
    budget: _Budget,
    compressed: int | None = None,
) -> ExtractedFile:
    """Stream ``src`` into the new file ``target``, counting and hashing the bytes written."""
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        reason = "the path already exists (a duplicate member)"
        raise UnsafeArchive(archive=budget.label, member=member, reason=reason) from None
    digest = hashlib.sha256()
    size = 0
    with open(fd, "wb", closefd=True) as out:
        os.fchmod(out.fileno(), 0o644)
        while True:
            with _decoding(budget.label, member):
                chunk = src.read(_CHUNK)
            if not chunk:
                break
            budget.charge(member, size, len(chunk), compressed)
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return ExtractedFile(path=member, size=size, sha256=digest.hexdigest())


def _clear(dest: Path) -> None:
    """Remove everything under ``dest`` (best effort: it runs while an error propagates)."""
    with contextlib.suppress(OSError), os.scandir(dest) as entries:
        for entry in list(entries):
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)


# --------------------------------------------------------------------------------------------
# zip


def _check_zip_info(label: str, info: zipfile.ZipInfo) -> None:
    raw = info.orig_filename

    def refuse(reason: str) -> UnsafeArchive:
        return UnsafeArchive(archive=label, member=raw, reason=reason)

    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise refuse("it is a symbolic link")
    if kind not in {0, stat.S_IFREG, stat.S_IFDIR}:
        raise refuse("it is neither a regular file nor a directory")
    if kind == stat.S_IFDIR and not info.is_dir():
        raise refuse("its mode says directory but its name does not end in '/'")
    if kind == stat.S_IFREG and info.is_dir():
        raise refuse("its mode says regular file but its name ends in '/'")
    if info.flag_bits & _ZIP_ENCRYPTED:
        raise refuse("it is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise refuse(f"it uses the unsupported compression method {info.compress_type}")
    name = raw.replace("\\", "/")
    if name == "data.pkl" or name.endswith("/data.pkl"):
        raise refuse("a data.pkl record makes this a model file (torch zip), not an archive")


def _check_zip_layout(label: str, path: Path, zf: zipfile.ZipFile) -> None:
    """Refuse entries whose data overlap each other or the central directory (zip bombs)."""
    end_of_previous = 0
    previous: str | None = None
    with _decoding(label, None), path.open("rb") as fh:
        for info in sorted(zf.infolist(), key=lambda item: item.header_offset):
            fh.seek(info.header_offset)
            header = fh.read(_ZIP_LOCAL_HEADER.size)
            if len(header) != _ZIP_LOCAL_HEADER.size:
                raise zipfile.BadZipFile("truncated local file header")
            signature, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack(header)
            if signature != b"PK\x03\x04":
                raise zipfile.BadZipFile("bad local file header signature")
            if info.header_offset < end_of_previous:
                reason = f"its data overlap those of {previous!r} (an overlapping zip bomb?)"
                raise UnsafeArchive(archive=label, member=info.orig_filename, reason=reason)
            end_of_previous = (
                info.header_offset
                + _ZIP_LOCAL_HEADER.size
                + name_length
                + extra_length
                + info.compress_size
            )
            previous = info.orig_filename
    if previous is not None and end_of_previous > zf.start_dir:
        reason = "its data overlap the central directory"
        raise UnsafeArchive(archive=label, member=previous, reason=reason)


def _extract_zip(job: _Job) -> list[ExtractedFile]:
    label, limits = job.label, job.limits
    with _decoding(label, None):
        zf = zipfile.ZipFile(job.path)
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            reason = f"it has more than max_members ({limits.max_members}) members"
            raise UnsafeArchive(archive=label, reason=reason)
        plan = _Plan(label, limits, job.archive_size)
        for info in infos:
            _check_zip_info(label, info)
            plan.add(info.orig_filename, is_dir=info.is_dir(), size=info.file_size)
        plan.finish()
        _check_zip_layout(label, job.path, zf)

        budget = _Budget(label, limits, job.archive_size)
        written: list[ExtractedFile] = []
        for info, entry in zip(infos, plan.entries, strict=True):
            if entry is None:
                continue
            parts = entry.path.split("/")
            if entry.is_dir:
                _make_dirs(label, job.dest, parts)
                continue
            parent = _make_dirs(label, job.dest, parts[:-1])
            with _decoding(label, info.orig_filename):
                src = zf.open(info)
            with src:
                result = _copy(
                    src,
                    parent / parts[-1],
                    member=entry.path,
                    budget=budget,
                    compressed=info.compress_size,
                )
            if result.size != info.file_size:
                reason = f"{result.size} bytes were read but the header says {info.file_size}"
                raise UnsafeArchive(archive=label, member=info.orig_filename, reason=reason)
            written.append(result)
    return written


# --------------------------------------------------------------------------------------------
# tar


class _CorruptTar(tarfile.TarError):
    """A tar header after the first one is damaged (tarfile would silently stop there)."""


class _StrictTarInfo(tarfile.TarInfo):
    """A ``TarInfo`` that reports a damaged header instead of taking it as the archive's end."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        """Read the next header, raising on anything but a clean end of the archive."""
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.HeaderError as exc:
            # A zero block, or the end of the data, ends an archive; nothing else may.
            if type(exc).__name__ in {"EOFHeaderError", "EmptyHeaderError"}:
                raise
            msg = f"damaged tar header ({exc})"
            raise _CorruptTar(msg) from exc


class _CappedStream:
    """A forward-only view of a decompressed stream that refuses to read past ``cap`` bytes.

    It bounds the work of the pre-scan (which decompresses the whole stream to reach every
    header) independently of the header sizes.
    """

    def __init__(self, src: _Readable, cap: int, label: str) -> None:
        self._src = src
        self._cap = cap
        self._label = label
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            msg = "unbounded read of a decompressed tar stream"
            raise OSError(msg)
        data = _read_exactly(self._src, size)
        self._pos += len(data)
        if self._pos > self._cap:
            reason = f"the decompressed tar stream exceeds {self._cap} bytes (the limits)"
            raise UnsafeArchive(archive=self._label, reason=reason)
        return data

    def write(self, _data: bytes, /) -> int:
        msg = "read-only stream"
        raise OSError(msg)

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET, /) -> int:
        target = pos if whence == os.SEEK_SET else self._pos + pos
        if whence not in {os.SEEK_SET, os.SEEK_CUR} or target < self._pos:
            msg = "the decompressed tar stream can only move forward"
            raise OSError(msg)
        while self._pos < target:
            if not self.read(min(_CHUNK, target - self._pos)):
                break
        return self._pos

    def close(self) -> None:
        return None


def _open_tar(stack: contextlib.ExitStack, job: _Job) -> tarfile.TarFile:
    # Both passes decompress the whole stream; bound that by the limits plus room for headers.
    limits = job.limits
    cap = (
        min(limits.max_total_bytes, int(limits.max_ratio * max(job.archive_size, 1)))
        + 5 * _TAR_BLOCK * (limits.max_members + 2)
        + 20 * _TAR_BLOCK
    )
    with _decoding(job.label, None):
        decompressed = _open_decompressed(stack, job.path, _CODEC[job.kind])
        stream = _CappedStream(decompressed, cap, job.label)
        return stack.enter_context(
            tarfile.open(fileobj=stream, mode="r:", tarinfo=_StrictTarInfo),
        )


def _next_member(job: _Job, tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    with _decoding(job.label, None):
        return tar.next()


_PLAIN_TAR_TYPES: Final = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
_TAR_TYPE_PROBLEMS: Final = {
    tarfile.SYMTYPE: "it is a symbolic link",
    tarfile.LNKTYPE: "it is a hard link",
    tarfile.CHRTYPE: "it is a character device",
    tarfile.BLKTYPE: "it is a block device",
    tarfile.FIFOTYPE: "it is a FIFO",
    tarfile.GNUTYPE_SPARSE: "it is a sparse file",
}


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Return what is wrong with a member's type, or None for a regular file or directory."""
    if member.issparse():
        return "it is a sparse file"
    if member.isdir() or member.type in _PLAIN_TAR_TYPES:
        return None
    default = f"it is neither a regular file nor a directory (type {member.type!r})"
    return _TAR_TYPE_PROBLEMS.get(member.type, default)


def _scan_tar(job: _Job) -> tuple[_Plan, list[tuple[str, bytes, int]]]:
    """Check every member of a tar archive; return the plan and each member's identity."""
    plan = _Plan(job.label, job.limits, job.archive_size)
    seen: list[tuple[str, bytes, int]] = []
    with contextlib.ExitStack() as stack:
        tar = _open_tar(stack, job)
        while (member := _next_member(job, tar)) is not None:
            problem = _member_problem(member)
            if problem is not None:
                raise UnsafeArchive(archive=job.label, member=member.name, reason=problem)
            plan.add(member.name, is_dir=member.isdir(), size=member.size)
            try:
                tarfile.data_filter(member, str(job.dest))
            except (tarfile.TarError, OSError, ValueError) as exc:
                reason = f"tarfile's data filter refused it ({type(exc).__name__}: {exc})"
                raise UnsafeArchive(archive=job.label, member=member.name, reason=reason) from exc
            seen.append((member.name, member.type, member.size))
    plan.finish()
    return plan, seen


def _extract_tar(job: _Job) -> list[ExtractedFile]:
    plan, seen = _scan_tar(job)
    label = job.label
    budget = _Budget(label, job.limits, job.archive_size)
    written: list[ExtractedFile] = []
    changed = "the archive changed between the pre-scan and the extraction"
    with contextlib.ExitStack() as stack:
        tar = _open_tar(stack, job)
        for identity, entry in zip(seen, plan.entries, strict=True):
            member = _next_member(job, tar)
            if member is None or (member.name, member.type, member.size) != identity:
                raise UnsafeArchive(archive=label, reason=changed)
            if entry is None:
                continue
            parts = entry.path.split("/")
            if entry.is_dir:
                _make_dirs(label, job.dest, parts)
                continue
            parent = _make_dirs(label, job.dest, parts[:-1])
            with _decoding(label, member.name):
                src = tar.extractfile(member)
            if src is None:  # pragma: no cover - regular files always have data
                raise UnsafeArchive(archive=label, member=member.name, reason="it has no data")
            with src:
                result = _copy(src, parent / parts[-1], member=entry.path, budget=budget)
            if result.size != member.size:
                reason = f"{result.size} bytes were read but the header says {member.size}"
                raise UnsafeArchive(archive=label, member=member.name, reason=reason)
            written.append(result)
        if _next_member(job, tar) is not None:
            raise UnsafeArchive(archive=label, reason=changed)
    return written


# --------------------------------------------------------------------------------------------
# Single-file streams


def _extract_single(job: _Job, output_name: str | None) -> list[ExtractedFile]:
    label = job.label
    name = output_name
    if name is None:
        lower = label.lower()
        for suffix, suffix_kind in _SUFFIXES:
            if suffix_kind == job.kind and lower.endswith(suffix) and len(label) > len(suffix):
                name = label[: -len(suffix)]
                break
        else:
            reason = f"the name does not end in .{job.kind}; pass output_name"
            raise UnsafeArchive(archive=label, reason=reason)
    if "/" in name:
        raise UnsafeArchive(archive=label, member=name, reason="output_name must be one segment")
    checked = _check_name(label, name, is_dir=False, limits=job.limits)
    if checked is None:  # pragma: no cover - only directories map to None
        raise UnsafeArchive(archive=label, member=name, reason="the output name is empty")
    budget = _Budget(label, job.limits, job.archive_size)
    with contextlib.ExitStack() as stack:
        with _decoding(label, None):
            src = _open_decompressed(stack, job.path, _CODEC[job.kind])
        return [_copy(src, job.dest / checked, member=checked, budget=budget)]


# --------------------------------------------------------------------------------------------
# The entry point


def _check_dest(label: str, dest: Path) -> None:
    if dest.is_symlink() or not dest.is_dir():
        reason = f"the destination {str(dest)!r} is not an existing directory"
        raise UnsafeArchive(archive=label, reason=reason)
    with os.scandir(dest) as entries:
        if next(entries, None) is not None:
            reason = f"the destination {str(dest)!r} is not empty"
            raise UnsafeArchive(archive=label, reason=reason)


def extract(
    archive: Path,
    dest: Path,
    *,
    kind: str | None = None,
    limits: ExtractLimits = DEFAULT_LIMITS,
    output_name: str | None = None,
) -> list[ExtractedFile]:
    """Extract an archive into an empty directory, refusing anything unsafe as a whole.

    Every member is checked before anything is written (see the module documentation), the bytes
    actually written are counted against ``limits``, and on any failure everything written under
    ``dest`` is removed again.

    Args:
        archive: The archive file.
        dest: An existing, empty directory (a fresh staging directory) to extract into.
        kind: One of :data:`ARCHIVE_KINDS`; found by :func:`archive_kind` from the file's name
            and bytes when None. A given kind must still agree with the bytes.
        limits: The limits on what the archive may write.
        output_name: The file name for a single-file stream (``gz``, ``bz2``, ``xz``, ``zst``);
            defaults to the archive's name without its suffix. Ignored for zip and tar.

    Returns:
        Every regular file written, in archive order, with its size and SHA-256.

    Raises:
        UnsafeArchive: The destination is not an empty directory; the file is not an archive (or
            is a model file); its name and bytes disagree; a member is unsafe; a limit was
            exceeded; or the data are corrupt. Nothing is left under ``dest``.
        OSError: Writing under ``dest`` failed (a full disk, for example); nothing is left there.
    """
    label = archive.name
    _check_dest(label, dest)
    if kind is None:
        kind = archive_kind(archive)
        if kind is None:
            reason = "it is not an archive (by its name), or it is a model file"
            raise UnsafeArchive(archive=label, reason=reason)
    elif kind not in ARCHIVE_KINDS:
        reason = f"unknown archive kind {kind!r}; expected one of {', '.join(ARCHIVE_KINDS)}"
        raise UnsafeArchive(archive=label, reason=reason)
    elif _inspect(archive, label, kind):
        reason = "it is a model file (a torch zip holding data.pkl), not an archive"
        raise UnsafeArchive(archive=label, reason=reason)
    with _decoding(label, None):
        archive_size = archive.stat().st_size
    job = _Job(
        path=archive,
        dest=dest,
        label=label,
        kind=kind,
        limits=limits,
        archive_size=archive_size,
    )
    try:
        if kind == "zip":
            return _extract_zip(job)
        if kind.startswith("tar"):
            return _extract_tar(job)
        return _extract_single(job, output_name)
    except BaseException:
        _clear(dest)
        raise
