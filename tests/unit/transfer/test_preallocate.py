"""Preallocating a download's file: blocks reserved up front, a full disk reported at once."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import TYPE_CHECKING

import pytest

from model_fetch.exceptions import InsufficientStorage
from model_fetch.transfer import _writer
from model_fetch.transfer._writer import preallocate

if TYPE_CHECKING:
    from pathlib import Path


def test_known_size_is_reserved_and_the_prefix_kept(tmp_path: Path) -> None:
    """A resumed download keeps its prefix and the file is laid out to its full size."""
    if _writer._fallocate() is None:
        pytest.skip("fallocate(2) is Linux-only")
    path = tmp_path / "f"
    path.write_bytes(b"prefix")
    fd = os.open(path, os.O_RDWR)
    try:
        preallocate(fd, 6, 1 << 20)
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert len(data) in (6, 1 << 20)  # a filesystem without fallocate(2) is left as it was
    assert data.startswith(b"prefix")


def test_disk_that_cannot_hold_the_file_fails_before_the_transfer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC from the reservation is InsufficientStorage, not a failure after most bytes."""

    def full(_fd: int, _mode: int, _offset: int, _length: int) -> int:
        ctypes.set_errno(errno.ENOSPC)
        return -1

    monkeypatch.setattr(_writer, "_fallocate", lambda: full)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(InsufficientStorage):
            preallocate(fd, 0, 1 << 30)
    finally:
        os.close(fd)


def test_filesystem_without_fallocate_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the filesystem cannot reserve blocks, the download writes as before."""

    def unsupported(_fd: int, _mode: int, _offset: int, _length: int) -> int:
        ctypes.set_errno(errno.EOPNOTSUPP)
        return -1

    monkeypatch.setattr(_writer, "_fallocate", lambda: unsupported)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        preallocate(fd, 0, 1 << 20)
    finally:
        os.close(fd)
    assert (tmp_path / "f").stat().st_size == 0
