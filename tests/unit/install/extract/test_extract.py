"""Safe archive extraction: formats, name/bytes agreement, unsafe members, bombs and limits.

Every archive is built here with zipfile, tarfile, gzip, bz2 and lzma (zstandard when installed).
Each extraction goes into ``sentinel/dest``; the tests check that nothing appears in ``sentinel``
outside ``dest``, and that ``dest`` is left empty after a refusal.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import importlib
import io
import lzma
import os
import pickle
import stat
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from model_fetch.exceptions import InvalidRequest
from model_fetch.install import (
    ExtractedFile,
    ExtractLimits,
    UnsafeArchive,
    archive_kind,
    extract,
)

MiB = 1024 * 1024
ZEROS = b"\0" * (10 * MiB)


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    path = tmp_path / "sentinel"
    (path / "dest").mkdir(parents=True)
    return path


@pytest.fixture
def dest(sentinel: Path) -> Path:
    return sentinel / "dest"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in"
    path.mkdir()
    return path


@pytest.fixture
def no_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if extraction creates any directory or file (the pre-scan must refuse)."""
    module = importlib.import_module("model_fetch.install.extract._write")

    def forbidden(*args: object, **kwargs: object) -> None:
        pytest.fail("something was written before the pre-scan refused the archive")

    monkeypatch.setattr(module, "make_dirs", forbidden)
    monkeypatch.setattr(module, "copy_member", forbidden)


def assert_contained(sentinel: Path) -> None:
    dest = sentinel / "dest"
    assert [p.name for p in sentinel.iterdir()] == ["dest"]
    for path in dest.rglob("*"):
        assert not path.is_symlink()
        assert dest in path.parents


def assert_refused(
    archive: Path,
    sentinel: Path,
    match: str | None = None,
    **kwargs: Any,
) -> UnsafeArchive:
    dest = sentinel / "dest"
    with pytest.raises(UnsafeArchive, match=match) as info:
        extract(archive, dest, **kwargs)
    assert list(dest.iterdir()) == []
    assert_contained(sentinel)
    return info.value


def make_zip(
    path: Path,
    entries: list[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def tinfo(
    name: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    linkname: str = "",
    mode: int = 0o644,
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def zstd_compress(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    compressed: bytes = zstandard.ZstdCompressor().compress(data)
    return compressed


COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": zstd_compress,
}


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write a tar archive compressed as the path's suffix says."""
    raw = tar_bytes(members)
    suffix = path.name.rsplit(".", 1)[-1]
    codec = {"tar": None, "tgz": "gz", "gz": "gz", "bz2": "bz2", "xz": "xz", "zst": "zst"}[suffix]
    path.write_bytes(raw if codec is None else COMPRESSORS[codec](raw))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def patch_zip(path: Path, name: str, *, central: dict[int, bytes], local: dict[int, bytes]) -> None:
    """Overwrite fields of one entry's central and local headers (offsets from each header)."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    cd = data.index(b"PK\x01\x02")
    while data[cd + 46 : cd + 46 + len(encoded)] != encoded:
        cd = data.index(b"PK\x01\x02", cd + 4)
    (lh,) = struct.unpack_from("<I", data, cd + 42)
    for offset, value in central.items():
        data[cd + offset : cd + offset + len(value)] = value
    for offset, value in local.items():
        data[lh + offset : lh + offset + len(value)] = value
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------------------------
# Happy paths


def test_zip_with_nested_dirs(src: Path, sentinel: Path, dest: Path) -> None:
    """A zip with explicit and implicit nested directories extracts with hashes and safe modes."""
    exe = zipfile.ZipInfo("bin/tool.sh")
    exe.external_attr = (stat.S_IFREG | 0o4755) << 16
    archive = make_zip(
        src / "model.zip",
        [
            ("a/", b""),
            ("a/b/", b""),
            ("a/b/config.json", b'{"x": 1}'),
            ("c/d/e/weights.txt", b"w" * 5000),
            (exe, b"#!/bin/sh\n"),
            ("empty/", b""),
        ],
    )
    assert archive_kind(archive) == "zip"
    files = extract(archive, dest)
    assert files == [
        ExtractedFile(path="a/b/config.json", size=8, sha256=sha(b'{"x": 1}')),
        ExtractedFile(path="c/d/e/weights.txt", size=5000, sha256=sha(b"w" * 5000)),
        ExtractedFile(path="bin/tool.sh", size=10, sha256=sha(b"#!/bin/sh\n")),
    ]
    assert (dest / "c/d/e/weights.txt").read_bytes() == b"w" * 5000
    assert (dest / "empty").is_dir()
    assert stat.S_IMODE((dest / "bin/tool.sh").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "a/b").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "c/d").stat().st_mode) == 0o755
    assert_contained(sentinel)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("m.tar", "tar"),
        ("m.tar.gz", "tar.gz"),
        ("m.tgz", "tar.gz"),
        ("m.tar.bz2", "tar.bz2"),
        ("m.tar.xz", "tar.xz"),
        ("m.tar.zst", "tar.zst"),
    ],
)
def test_tar_variants(src: Path, sentinel: Path, dest: Path, name: str, kind: str) -> None:
    """Every tar variant extracts, with './' prefixes normalised and modes made safe."""
    payload = os.urandom(70_000)
    archive = make_tar(
        src / name,
        [
            tinfo(".", kind=tarfile.DIRTYPE, mode=0o777),
            tinfo("./sub", kind=tarfile.DIRTYPE, mode=0o777),
            tinfo("./sub/model.dat", payload, mode=0o6755),
            tinfo("README.md", b"# hi\n"),
        ],
    )
    assert archive_kind(archive) == kind
    files = extract(archive, dest)
    assert files == [
        ExtractedFile(path="sub/model.dat", size=70_000, sha256=sha(payload)),
        ExtractedFile(path="README.md", size=5, sha256=sha(b"# hi\n")),
    ]
    assert (dest / "sub/model.dat").read_bytes() == payload
    assert stat.S_IMODE((dest / "sub/model.dat").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "sub").stat().st_mode) == 0o755
    assert_contained(sentinel)


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zst"])
def test_single_file_streams(src: Path, sentinel: Path, dest: Path, suffix: str) -> None:
    """A single compressed file decompresses to its name without the suffix."""
    payload = b"tensor bytes " * 1000
    archive = src / f"weights.bin.{suffix}"
    archive.write_bytes(COMPRESSORS[suffix](payload))
    assert archive_kind(archive) == suffix
    files = extract(archive, dest)
    assert files == [ExtractedFile(path="weights.bin", size=len(payload), sha256=sha(payload))]
    assert (dest / "weights.bin").read_bytes() == payload
    assert_contained(sentinel)


def test_single_file_output_name(src: Path, dest: Path) -> None:
    """output_name names the decompressed file; a temporary archive name needs an explicit kind."""
    archive = src / "download.incomplete"
    archive.write_bytes(gzip.compress(b"abc"))
    assert archive_kind(archive) is None
    assert archive_kind(archive, "model.gz") == "gz"
    files = extract(archive, dest, kind="gz", output_name="model.onnx")
    assert [f.path for f in files] == ["model.onnx"]
    assert (dest / "model.onnx").read_bytes() == b"abc"


def test_empty_zip(src: Path, dest: Path) -> None:
    """An empty zip (end-of-central-directory magic only) is an archive with nothing in it."""
    archive = make_zip(src / "empty.zip", [])
    assert archive.read_bytes().startswith(b"PK\x05\x06")
    assert archive_kind(archive) == "zip"
    assert extract(archive, dest) == []


# ---------------------------------------------------------------------------------------------
# What is an archive


def test_names_without_archive_suffix_are_not_archives(src: Path) -> None:
    """A name with no archive suffix is never an archive, whatever its bytes."""
    path = make_zip(src / "config.json", [("a.txt", b"a")])
    assert archive_kind(path) is None
    assert archive_kind(path, "weights") is None


@pytest.mark.parametrize(
    "name",
    [
        "model.pth",
        "model.safetensors",
        "model.pt",
        "pytorch_model.bin",
        "m.ckpt",
        "m.onnx",
        "m.gguf",
    ],
)
def test_model_suffixes_are_never_archives(src: Path, name: str) -> None:
    """Model file names are never archives, even when the bytes are a zip."""
    path = make_zip(src / name, [("a.txt", b"a")])
    assert archive_kind(path) is None


def test_torch_zip_is_a_model_file(src: Path, sentinel: Path) -> None:
    """A zip holding archive/data.pkl is a torch checkpoint: not an archive, never extracted."""
    path = make_zip(
        src / "model.zip",
        [("archive/data.pkl", b"\x80\x02}q\x00."), ("archive/data/0", b"\0" * 16)],
    )
    assert archive_kind(path) is None
    assert_refused(path, sentinel, match="model file")
    assert_refused(path, sentinel, match="model file", kind="zip")
    top = make_zip(src / "top.tar.gz", [("data.pkl", b"\x80\x02.")])
    assert archive_kind(top) is None


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("model.zip", gzip.compress(b"not a zip"), "says zip but the bytes are gzip"),
        ("model.tar.gz", b"just some plain text\n" * 30, "no known archive format"),
        ("model.tar.gz", b"zip", "says tar.gz but the bytes are zip"),
        ("model.tar.gz", gzip.compress(b"plain text, not a tar" * 40), "not a tar archive"),
        ("model.tar", b"PK\x03\x04" + b"\0" * 600, "says tar but the bytes are zip"),
        ("model.gz", bz2.compress(b"x"), "says gz but the bytes are bzip2"),
        ("model.xz", b"\xfd7zXZ", "no known archive format"),
    ],
)
def test_name_bytes_mismatch_is_refused(
    src: Path,
    sentinel: Path,
    name: str,
    content: bytes,
    match: str,
) -> None:
    """When the name says archive but the bytes disagree, both functions refuse, never guess."""
    path = src / name
    if content == b"zip":
        make_zip(path, [("a.txt", b"a")])
    else:
        path.write_bytes(content)
    with pytest.raises(UnsafeArchive, match=match) as info:
        archive_kind(path)
    assert info.value.archive == name
    assert info.value.member is None
    assert_refused(path, sentinel, match=match)


def test_explicit_kind_must_match_bytes(src: Path, sentinel: Path) -> None:
    """An explicit kind is checked against the bytes too, and unknown kinds are refused."""
    path = make_zip(src / "blob", [("a.txt", b"a")])
    assert_refused(path, sentinel, match="says tar.gz", kind="tar.gz")
    assert_refused(path, sentinel, match="unknown archive kind", kind="rar")
    assert_refused(path, sentinel, match="not an archive")


def test_zst_without_zstandard(src: Path, sentinel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the zstandard package a .zst is no archive, and extracting one is refused."""
    module = importlib.import_module("model_fetch.install.extract._codecs")
    monkeypatch.setattr(module, "zstd", lambda: None)
    path = src / "m.tar.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    assert archive_kind(path) is None
    assert_refused(path, sentinel, match="zstandard", kind="tar.zst")


# ---------------------------------------------------------------------------------------------
# Unsafe members


def _tar_case(case: str, sentinel: Path) -> tuple[tarfile.TarInfo, bytes | None]:
    cases = {
        "parent": lambda: tinfo("../escape.txt", b"x"),
        "nested-parent": lambda: tinfo("a/../../escape.txt", b"x"),
        "absolute": lambda: tinfo(f"{sentinel}/abs.txt", b"x"),
        "symlink": lambda: tinfo("link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
        "relative-symlink": lambda: tinfo("link", kind=tarfile.SYMTYPE, linkname="good.txt"),
        "hardlink": lambda: tinfo("hard", kind=tarfile.LNKTYPE, linkname="good.txt"),
        "chr-device": lambda: tinfo("null", kind=tarfile.CHRTYPE),
        "blk-device": lambda: tinfo("sda", kind=tarfile.BLKTYPE),
        "fifo": lambda: tinfo("pipe", kind=tarfile.FIFOTYPE),
        "backslash": lambda: tinfo("a\\..\\..\\x", b"x"),
        "duplicate": lambda: tinfo("good.txt", b"again"),
        "file-and-dir": lambda: tinfo("good.txt", kind=tarfile.DIRTYPE),
        "inside-file": lambda: tinfo("good.txt/inner", b"x"),
        "drive": lambda: tinfo("C:/windows/x", b"x"),
    }
    return cases[case]()


TAR_CASES = {
    "parent": "'..'",
    "nested-parent": "'..'",
    "absolute": "absolute",
    "symlink": "symbolic link",
    "relative-symlink": "symbolic link",
    "hardlink": "hard link",
    "chr-device": "character device",
    "blk-device": "block device",
    "fifo": "FIFO",
    "backslash": "backslash",
    "duplicate": "more than once",
    "file-and-dir": "more than once",
    "inside-file": "inside the file member",
    "drive": "drive letter",
}


@pytest.mark.parametrize("case", list(TAR_CASES))
def test_unsafe_tar_member_refuses_whole_archive(
    src: Path,
    sentinel: Path,
    no_writes: None,
    case: str,
) -> None:
    """A tar with any unsafe member is refused as a whole, before the good members are written."""
    members = [tinfo("good.txt", b"good"), _tar_case(case, sentinel)]
    archive = make_tar(src / "m.tar.gz", members)
    error = assert_refused(archive, sentinel, match=TAR_CASES[case])
    assert error.member is not None
    assert not (src / "escape.txt").exists()


def test_tar_data_filter_is_a_second_layer(
    src: Path,
    sentinel: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tarfile.data_filter runs on every member and its refusal refuses the archive."""
    calls: list[str] = []

    def refuse(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
        calls.append(member.name)
        raise tarfile.AbsolutePathError(member)

    monkeypatch.setattr(tarfile, "data_filter", refuse)
    archive = make_tar(src / "m.tar", [tinfo("good.txt", b"good")])
    assert_refused(archive, sentinel, match="data filter")
    assert calls == ["good.txt"]


def test_tar_damaged_header_after_first_member(src: Path, sentinel: Path) -> None:
    """Garbage where a later header should be is refused, not taken as the end of the archive."""
    raw = bytearray(tar_bytes([tinfo("a.txt", b"a"), tinfo("b.txt", b"b")]))
    raw[1024:1536] = b"garbage!" * 64
    archive = src / "m.tar"
    archive.write_bytes(bytes(raw))
    assert_refused(archive, sentinel, match="damaged tar header")


def test_truncated_tar_gz(src: Path, sentinel: Path) -> None:
    """A truncated compressed tar is refused and leaves nothing behind."""
    full = make_tar(src / "m.tar.gz", [tinfo("a.bin", os.urandom(200_000))])
    data = full.read_bytes()
    full.write_bytes(data[: len(data) // 2])
    assert_refused(full, sentinel, match="corrupt")


def _zip_case(case: str, sentinel: Path) -> tuple[str | zipfile.ZipInfo, bytes]:
    def with_mode(name: str, mode: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        return info

    cases: dict[str, tuple[str | zipfile.ZipInfo, bytes]] = {
        "parent": ("../escape.txt", b"x"),
        "absolute": (f"{sentinel}/abs/x", b"x"),
        "symlink": (with_mode("link", 0o120777), b"/etc/passwd"),
        "fifo-mode": (with_mode("pipe", stat.S_IFIFO | 0o644), b""),
        "dir-mode-on-file": (with_mode("notadir", stat.S_IFDIR | 0o755), b""),
        "backslash": ("..\\escape.txt", b"x"),
        "drive": ("C:/x.txt", b"x"),
        "file-and-dir": ("good.txt/", b""),
        "inside-file": ("good.txt/inner", b"x"),
        "empty-segment": ("a//b.txt", b"x"),
        "control-char": ("a\x07b.txt", b"x"),
    }
    return cases[case]


ZIP_CASES = {
    "parent": "'..'",
    "absolute": "absolute",
    "symlink": "symbolic link",
    "fifo-mode": "neither a regular file nor a directory",
    "dir-mode-on-file": "mode says directory",
    "backslash": "backslash",
    "drive": "drive letter",
    "file-and-dir": "more than once",
    "inside-file": "inside the file member",
    "empty-segment": "empty",
    "control-char": "control character",
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_unsafe_zip_entry_refuses_whole_archive(
    src: Path,
    sentinel: Path,
    no_writes: None,
    case: str,
) -> None:
    """A zip with any unsafe entry is refused, not sanitised, before anything is written."""
    archive = make_zip(src / "m.zip", [("good.txt", b"good"), _zip_case(case, sentinel)])
    error = assert_refused(archive, sentinel, match=ZIP_CASES[case])
    assert error.member is not None
    assert not (src / "escape.txt").exists()


def test_zip_duplicate_names(src: Path, sentinel: Path, no_writes: None) -> None:
    """Two zip entries with the same name are refused."""
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive = make_zip(src / "m.zip", [("a.txt", b"one"), ("a.txt", b"two")])
    assert_refused(archive, sentinel, match="more than once")


def test_zip_nul_in_name(src: Path, sentinel: Path) -> None:
    """A NUL in a stored zip name (which zipfile would silently cut) is refused."""
    archive = make_zip(src / "m.zip", [("evil.txtX.sh", b"x")])
    archive.write_bytes(archive.read_bytes().replace(b"evil.txtX.sh", b"evil.txt\0.sh"))
    assert_refused(archive, sentinel, match="NUL")


def test_zip_encrypted_entry(src: Path, sentinel: Path) -> None:
    """An entry flagged as encrypted is refused."""
    archive = make_zip(src / "m.zip", [("a.txt", b"secret")])
    patch_zip(archive, "a.txt", central={8: b"\x01\x00"}, local={6: b"\x01\x00"})
    assert_refused(archive, sentinel, match="encrypted")


def test_zip_entry_longer_than_header(src: Path, sentinel: Path) -> None:
    """An entry holding more data than its header says fails its CRC and is refused."""
    archive = make_zip(src / "m.zip", [("good.txt", b"good"), ("a.bin", b"A" * 4000)])
    small = struct.pack("<I", 1000)
    patch_zip(archive, "a.bin", central={24: small}, local={22: small})
    assert_refused(archive, sentinel, match="corrupt")


def test_zip_entry_shorter_than_header(src: Path, sentinel: Path) -> None:
    """An entry holding less data than its header says is refused (actual bytes are counted)."""
    archive = make_zip(
        src / "m.zip",
        [("good.txt", b"good"), ("a.bin", b"A" * 4000)],
        compression=zipfile.ZIP_STORED,
    )
    large = struct.pack("<I", 5000)
    patch_zip(archive, "a.bin", central={24: large}, local={22: large})
    assert_refused(archive, sentinel, match="4000 bytes were read but the header says 5000")


def test_zip_overlapping_entries(src: Path, sentinel: Path) -> None:
    """Two central-directory entries sharing one local entry (an overlap bomb) are refused."""
    archive = make_zip(src / "m.zip", [("a.txt", b"a" * 100), ("b.txt", b"b" * 100)])
    patch_zip(archive, "b.txt", central={42: struct.pack("<I", 0)}, local={})
    assert_refused(archive, sentinel, match="overlap")


# ---------------------------------------------------------------------------------------------
# Bombs and limits


def test_deflate_bomb(src: Path, sentinel: Path, no_writes: None) -> None:
    """10 MiB of deflated zeros is over a 100:1 ratio and is refused."""
    archive = make_zip(src / "bomb.zip", [("zeros.bin", ZEROS)])
    assert archive.stat().st_size < 20_000
    assert_refused(archive, sentinel, match="max_ratio", limits=ExtractLimits(max_ratio=100))


def test_zip_member_ratio_counted_while_writing(src: Path, sentinel: Path) -> None:
    """A bomb entry hidden beside incompressible data trips the per-entry ratio while writing."""
    archive = make_zip(
        src / "mixed.zip",
        [("noise.bin", os.urandom(300_000)), ("zeros.bin", ZEROS)],
    )
    # The archive as a whole stays under 100:1; the zeros entry alone is about 1000:1.
    assert (300_000 + len(ZEROS)) / archive.stat().st_size < 100
    error = assert_refused(
        archive, sentinel, match="max_ratio", limits=ExtractLimits(max_ratio=100)
    )
    assert error.member == "zeros.bin"


def test_gzip_bomb(src: Path, sentinel: Path) -> None:
    """A single-file gzip bomb is stopped by counting the bytes actually written."""
    archive = src / "zeros.bin.gz"
    archive.write_bytes(gzip.compress(ZEROS))
    assert_refused(archive, sentinel, match="max_ratio", limits=ExtractLimits(max_ratio=100))


def test_tar_gz_bomb(src: Path, sentinel: Path) -> None:
    """A tar.gz of zeros over the ratio is refused."""
    archive = make_tar(src / "bomb.tar.gz", [tinfo("zeros.bin", ZEROS)])
    assert_refused(archive, sentinel, match="max_ratio", limits=ExtractLimits(max_ratio=100))


@pytest.mark.parametrize("fmt", ["zip", "tar.xz", "gz"])
def test_per_file_limit(src: Path, sentinel: Path, fmt: str) -> None:
    """A file over max_file_bytes is refused and nothing is left behind."""
    big = os.urandom(1000)
    if fmt == "zip":
        archive = make_zip(src / "m.zip", [("ok.bin", b"ok"), ("big.bin", big)])
    elif fmt == "tar.xz":
        archive = make_tar(src / "m.tar.xz", [tinfo("ok.bin", b"ok"), tinfo("big.bin", big)])
    else:
        archive = src / "big.bin.gz"
        archive.write_bytes(gzip.compress(big))
    assert_refused(
        archive, sentinel, match="max_file_bytes", limits=ExtractLimits(max_file_bytes=500)
    )


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_total_limit(src: Path, sentinel: Path, fmt: str) -> None:
    """Files adding up to more than max_total_bytes are refused."""
    files = [(f"f{i}.bin", os.urandom(400)) for i in range(3)]
    if fmt == "zip":
        archive = make_zip(src / "m.zip", list(files))
    else:
        archive = make_tar(src / "m.tar", [tinfo(name, data) for name, data in files])
    limits = ExtractLimits(max_total_bytes=1000)
    assert_refused(archive, sentinel, match="max_total_bytes", limits=limits)


def test_written_bytes_are_counted_not_declared(
    src: Path,
    sentinel: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The total limit holds on the bytes written even when the header checks are bypassed."""
    module = importlib.import_module("model_fetch.install.extract._plan")
    original = module.Plan.add

    def lying_add(self: Any, raw: str, *, is_dir: bool, size: int) -> object:
        return original(self, raw, is_dir=is_dir, size=0)

    monkeypatch.setattr(module.Plan, "add", lying_add)
    archive = make_zip(src / "m.zip", [("a.bin", os.urandom(800)), ("b.bin", os.urandom(800))])
    error = assert_refused(
        archive,
        sentinel,
        match="max_total_bytes",
        limits=ExtractLimits(max_total_bytes=1000),
    )
    assert error.member == "b.bin"


@pytest.mark.parametrize("fmt", ["zip", "tar.bz2"])
def test_too_many_members(src: Path, sentinel: Path, fmt: str) -> None:
    """An archive with 11 members is refused under max_members=10."""
    names = [f"f{i}.txt" for i in range(11)]
    if fmt == "zip":
        archive = make_zip(src / "m.zip", [(name, b"x") for name in names])
    else:
        archive = make_tar(src / "m.tar.bz2", [tinfo(name, b"x") for name in names])
    assert_refused(archive, sentinel, match="max_members", limits=ExtractLimits(max_members=10))
    extract(archive, sentinel / "dest", limits=ExtractLimits(max_members=11))
    assert len(list((sentinel / "dest").iterdir())) == 11


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_deep_paths(src: Path, sentinel: Path, fmt: str) -> None:
    """A 40-deep path is refused under max_depth=32, and a long one under max_path_length."""
    deep = "/".join(f"d{i}" for i in range(39)) + "/f.txt"
    long = "x" * 60 + ".txt"
    for name, limits, match in [
        (deep, ExtractLimits(max_depth=32), "max_depth"),
        (long, ExtractLimits(max_path_length=50), "max_path_length"),
    ]:
        if fmt == "zip":
            archive = make_zip(src / "m.zip", [(name, b"x")])
        else:
            archive = make_tar(src / "m.tar", [tinfo(name, b"x")])
        assert_refused(archive, sentinel, match=match, limits=limits)


def test_limits_are_validated() -> None:
    """Limits must be positive numbers, and the defaults are the documented ones."""
    limits = ExtractLimits()
    assert limits.max_total_bytes == 50 * 1024**3
    assert limits.max_members == 100_000
    assert limits.max_file_bytes == 20 * 1024**3
    assert limits.max_ratio == 1000
    assert limits.max_depth == 32
    assert limits.max_path_length == 1024
    with pytest.raises(ValueError, match="max_members"):
        ExtractLimits(max_members=0)


# ---------------------------------------------------------------------------------------------
# The destination and the error


def test_dest_must_be_an_existing_empty_directory(src: Path, tmp_path: Path) -> None:
    """A non-empty or missing destination is refused and an existing file in it is untouched."""
    archive = make_zip(src / "m.zip", [("a.txt", b"a")])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(UnsafeArchive, match="not empty"):
        extract(archive, busy)
    assert (busy / "keep.txt").read_text() == "mine"
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    with pytest.raises(UnsafeArchive, match="not an existing directory"):
        extract(archive, tmp_path / "missing")
    with pytest.raises(UnsafeArchive, match="not an existing directory"):
        extract(archive, busy / "keep.txt")


def test_write_error_cleans_up_and_propagates(
    src: Path,
    sentinel: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OSError while writing (a full disk) propagates as itself after clearing dest."""
    archive = make_zip(src / "m.zip", [("a.txt", b"a"), ("dir/b.txt", b"b")])
    real_fchmod = os.fchmod
    calls = []

    def failing_fchmod(fd: int, mode: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", failing_fchmod)
    with pytest.raises(OSError, match="No space left") as info:
        extract(archive, sentinel / "dest")
    assert not isinstance(info.value, UnsafeArchive)
    assert list((sentinel / "dest").iterdir()) == []
    assert_contained(sentinel)


def test_unsafe_archive_is_an_invalid_request_and_pickles() -> None:
    """UnsafeArchive is a 400 InvalidRequest whose facts survive pickling."""
    error = UnsafeArchive(archive="m.zip", member="../x", reason="the name contains '..'")
    assert isinstance(error, InvalidRequest)
    assert isinstance(error, ValueError)
    assert error.status_code == 400
    assert error.exit_code == 2
    assert "m.zip" in str(error)
    assert "'..'" in str(error)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is UnsafeArchive
    assert (copy.archive, copy.member, copy.reason) == ("m.zip", "../x", error.reason)
    assert str(copy) == str(error)
