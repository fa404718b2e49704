"""The O_DIRECT appender: aligned blocks direct, unaligned heads and tails buffered."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

import pytest

from model_fetch.transfer import _direct
from model_fetch.transfer._direct import ALIGN, BLOCK, DirectAppender, open_direct

if TYPE_CHECKING:
    from pathlib import Path


def _appender(path: Path, start: int) -> tuple[int, DirectAppender]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    direct = open_direct(fd)
    if direct is None:
        pytest.skip("this filesystem or platform refuses O_DIRECT")
    return fd, DirectAppender(fd, direct, start=start)


@pytest.mark.parametrize("start", [0, ALIGN, 1000])
def test_appended_bytes_land_in_order_after_start(tmp_path: Path, start: int) -> None:
    """A (resumed) download's file holds its prefix and then every received byte, in order."""
    path = tmp_path / "f"
    prefix = os.urandom(start)
    path.write_bytes(prefix)
    body = os.urandom(2 * BLOCK + 3 * ALIGN + 17)
    fd, appender = _appender(path, start)
    try:
        for at in range(0, len(body), 100_003):  # odd-sized pieces straddle every boundary
            appender.append(body[at : at + 100_003])
        appender.close()
    finally:
        os.close(fd)
    assert appender.flushed == start + len(body)
    assert path.read_bytes() == prefix + body


def test_filesystem_refusing_direct_writes_falls_back_to_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem that rejects O_DIRECT writes with EINVAL still gets the whole file."""
    real_pwrite = os.pwrite
    refused: list[int] = []
    path = tmp_path / "f"
    fd, appender = _appender(path, 0)

    def pwrite(target: int, data: memoryview, offset: int) -> int:
        if target != fd:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(target, data, offset)

    monkeypatch.setattr(_direct.os, "pwrite", pwrite)
    body = os.urandom(3 * BLOCK + 5)
    try:
        appender.append(body)
        appender.close()
    finally:
        os.close(fd)
    assert refused == [0]  # tried once, then buffered for good
    assert path.read_bytes() == body


def test_write_error_surfaces_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk error during a background write is raised to the download, not swallowed."""
    path = tmp_path / "f"
    fd, appender = _appender(path, 0)

    def pwrite(_target: int, _data: memoryview, _offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_direct.os, "pwrite", pwrite)
    try:
        appender.append(os.urandom(BLOCK + 1))
        with pytest.raises(OSError, match="No space"):
            appender.close()
    finally:
        os.close(fd)
    assert appender.flushed == 0
