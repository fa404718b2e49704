"""fetch_ranges over an in-memory range reader: placement, hashing, retries, what a stop keeps."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from model_fetch.checksums import parse_checksum
from model_fetch.exceptions import DownloadCancelled
from model_fetch.transfer import RangeFailed, RangeStream, copy_object
from model_fetch.transfer._parallel import fetch_ranges
from model_fetch.transfer._ranges import Coverage
from model_fetch.transfer._retry import Retryable

DATA = bytes(range(256)) * 4096  # 1 MiB
SEGMENT = 256 * 1024
WAIT = 10  # seconds: only a bug makes a test wait this long


class _Stream:
    def __init__(self, data: bytes, start: int, end: int, chunk: int) -> None:
        self.position, self.end, self.data, self.chunk = start, end, data, chunk

    def read(self, limit: int) -> bytes:
        """Return the next chunk of the range."""
        size = min(self.chunk, limit, self.end - self.position)
        out = self.data[self.position : self.position + size]
        self.position += len(out)
        return out

    def shutdown(self) -> None:
        """Nothing blocks."""

    def release(self, *, complete: bool) -> None:
        """Nothing is held."""


class MemoryReader:
    """Serves ranges of ``data``; ``fail`` maps a start offset to errors raised on open."""

    def __init__(self, data: bytes, chunk: int = 64 * 1024) -> None:
        """Serve ``data`` in reads of ``chunk`` bytes."""
        self.data = data
        self.chunk = chunk
        self.opened: list[tuple[int, int]] = []
        self.fail: dict[int, list[BaseException]] = {}
        self.lock = threading.Lock()

    def open(self, start: int, end: int) -> RangeStream:
        """Open a range, or raise the next error planned for it."""
        with self.lock:
            self.opened.append((start, end))
            errors = self.fail.get(start)
            if errors:
                raise errors.pop(0)
        return _Stream(self.data, start, end, self.chunk)


def _fetch(
    path: Path, reader: object, *, coverage: Coverage | None = None, **kwargs: object
) -> tuple[Coverage, str]:
    hasher = hashlib.sha256()
    coverage = coverage if coverage is not None else Coverage()
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        os.ftruncate(fd, len(DATA))
        options: dict[str, object] = {
            "connections": 3,
            "timeout": 60.0,
            "cancel": None,
            "on_bytes": lambda _n: None,
            "retries": 0,
            "on_durable": None,
            "segment_size": SEGMENT,
            **kwargs,
        }
        fetch_ranges(
            reader=reader,  # type: ignore[arg-type]
            fd=fd,
            size=len(DATA),
            hashers=[hasher],
            coverage=coverage,
            **options,  # type: ignore[arg-type]
        )
    finally:
        os.close(fd)
    return coverage, hasher.hexdigest()


def test_segments_are_placed_and_hashed_in_order(tmp_path: Path) -> None:
    """Every segment lands at its offset and the digest is of the whole file, in order."""
    reader = MemoryReader(DATA)
    coverage, digest = _fetch(tmp_path / "f", reader)
    assert (tmp_path / "f").read_bytes() == DATA
    assert digest == hashlib.sha256(DATA).hexdigest()
    assert sorted(reader.opened) == [(s, s + SEGMENT) for s in range(0, len(DATA), SEGMENT)]
    assert coverage.spans() == ((0, len(DATA)),)


def test_kept_ranges_are_not_fetched_again(tmp_path: Path) -> None:
    """Ranges a resumed partial already holds are hashed from disk, not requested."""
    (tmp_path / "f").write_bytes(DATA[:SEGMENT] + b"\0" * (len(DATA) - SEGMENT))
    reader = MemoryReader(DATA)
    _, digest = _fetch(tmp_path / "f", reader, coverage=Coverage([(0, SEGMENT)]))
    assert digest == hashlib.sha256(DATA).hexdigest()
    assert (0, SEGMENT) not in reader.opened


def test_a_transient_failure_is_retried_within_its_segment(tmp_path: Path) -> None:
    """A segment whose request fails once is asked for again, up to its retry budget."""
    reader = MemoryReader(DATA)
    reader.fail[SEGMENT] = [Retryable("reset")]
    _, digest = _fetch(tmp_path / "f", reader, retries=1)
    assert digest == hashlib.sha256(DATA).hexdigest()
    assert reader.opened.count((SEGMENT, 2 * SEGMENT)) == 2


def test_a_segment_out_of_retries_fails_and_the_others_are_kept(tmp_path: Path) -> None:
    """When one segment runs out of retries, the finished ones stay complete for a resume."""
    reader = MemoryReader(DATA)
    reader.fail[2 * SEGMENT] = [Retryable("reset"), Retryable("reset")]
    coverage = Coverage()
    with pytest.raises(RangeFailed) as caught:
        _fetch(tmp_path / "f", reader, coverage=coverage, retries=1, connections=1)
    assert not caught.value.restart
    assert "reset" in caught.value.reason
    assert coverage.spans() == ((0, 2 * SEGMENT),)


def test_a_broken_range_rule_stops_everything(tmp_path: Path) -> None:
    """A reader that reports a range it must not place stops the transfer with restart."""
    reader = MemoryReader(DATA)
    reader.fail[SEGMENT] = [RangeFailed("another range", restart=True)]
    with pytest.raises(RangeFailed) as caught:
        _fetch(tmp_path / "f", reader, retries=5)
    assert caught.value.restart


class _MainOnlyCancel(threading.Event):
    """A cancel that only the hashing (calling) thread sees, so workers meet the stop instead."""

    def __init__(self) -> None:
        super().__init__()
        self.owner = threading.current_thread()
        self.fired = False
        self.seen = threading.Event()

    def is_set(self) -> bool:
        if self.fired and threading.current_thread() is self.owner:
            self.seen.set()
            return True
        return False


class _WatchedCoverage(Coverage):
    """Tells when the hashing thread looks at the coverage after it stopped the transfer."""

    def __init__(self, cancel: _MainOnlyCancel) -> None:
        super().__init__()
        self.cancel = cancel
        self.stopped = threading.Event()

    def prefix(self) -> int:
        if self.cancel.seen.is_set() and threading.current_thread() is self.cancel.owner:
            self.stopped.set()  # the stop was recorded before this call (same thread)
        return super().prefix()


class _HeldStream(_Stream):
    """Gives its first chunk, then holds the next until the transfer has been stopped."""

    def __init__(self, data: bytes, start: int, end: int, hold: _WatchedCoverage) -> None:
        super().__init__(data, start, end, chunk=1000)
        self.hold = hold
        self.reads = 0

    def read(self, limit: int) -> bytes:
        self.reads += 1
        if self.reads == 1:
            self.hold.cancel.fired = True
        elif self.reads == 2:  # the read in flight when the stop comes
            assert self.hold.stopped.wait(WAIT)
        return super().read(limit)


def test_a_stopped_segment_keeps_only_the_bytes_it_wrote(tmp_path: Path) -> None:
    """A segment cut short by a stop records the bytes it wrote, never its whole range."""
    cancel = _MainOnlyCancel()
    coverage = _WatchedCoverage(cancel)

    class Reader(MemoryReader):
        def open(self, start: int, end: int) -> RangeStream:
            return _HeldStream(self.data, start, end, coverage)

    with pytest.raises(DownloadCancelled):
        _fetch(tmp_path / "f", Reader(DATA), coverage=coverage, connections=1, cancel=cancel)
    assert coverage.spans() == ((0, 2000),), "what was written, and nothing more"


def test_copy_object_hashes_while_copying(tmp_path: Path) -> None:
    """copy_object writes the object and returns every expected digest without a second read."""
    md5 = parse_checksum(f"md5:{hashlib.md5(DATA).hexdigest()}")  # noqa: S324 - a test digest
    assert md5 is not None
    positions: list[int] = []
    outcome = copy_object(
        MemoryReader(DATA, chunk=SEGMENT),
        str(tmp_path / "copy"),
        size=len(DATA),
        checksums=[md5],
        on_position=positions.append,
        cancel=None,
        connections=2,
        segment_size=SEGMENT,
    )
    assert (tmp_path / "copy").read_bytes() == DATA
    assert outcome.sha256 == hashlib.sha256(DATA).hexdigest()
    assert outcome.digests["md5"] == md5.hexdigest
    assert outcome.size == len(DATA)
    assert positions[-1] == len(DATA)
