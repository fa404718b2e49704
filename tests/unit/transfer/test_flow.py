"""The stall guard and the background sync, driven by an injected clock and by events."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from model_fetch.transfer._flow import STALL_MIN_BYTES, BackgroundSync, StallGuard, datasync

WAIT = 10  # seconds: only a bug makes a test wait this long


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at zero."""
        self.now = 0.0

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


def test_a_drip_is_a_stall_once_the_window_closes() -> None:
    """Fewer than 1 KiB in a whole window is a stall, but only when the window has closed."""
    clock = Ticks()
    guard = StallGuard(10.0, clock)
    clock.now = 9.9
    assert not guard.stalled(STALL_MIN_BYTES - 1), "the window is still open"
    clock.now = 10.0
    assert guard.stalled(0)
    assert "fewer than 1024 bytes in 10 s" in guard.reason


def test_enough_bytes_open_a_new_window() -> None:
    """A window with enough bytes passes and the count starts again for the next one."""
    clock = Ticks()
    guard = StallGuard(1.0, clock)
    clock.now = 1.0
    assert not guard.stalled(STALL_MIN_BYTES)
    clock.now = 1.5
    assert not guard.stalled(10)
    clock.now = 2.0
    assert guard.stalled(10), "the second window got only 20 bytes"


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(0, 4096)), max_size=50))
def test_the_guard_matches_its_definition(reads: list[tuple[float, int]]) -> None:
    """Stalled exactly when a window of ``timeout`` seconds closed with too few bytes in it."""
    clock = Ticks()
    guard = StallGuard(3.0, clock)
    window_start, window_bytes = 0.0, 0
    for gap, size in reads:
        clock.now += gap
        window_bytes += size
        expected = False
        if clock.now - window_start >= 3.0:
            expected = window_bytes < STALL_MIN_BYTES
            if not expected:
                window_start, window_bytes = clock.now, 0
        assert guard.stalled(size) == expected
        if expected:
            return  # an attempt ends at its first stall


def _file(tmp_path: Path) -> int:
    fd = os.open(tmp_path / "data", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"x" * 1000)
    return fd


def test_a_sync_reports_the_snapshot_taken_before_it(tmp_path: Path) -> None:
    """What the resume record is told is durable was written before the sync started."""
    fd = _file(tmp_path)
    durable: list[int] = []
    reported = threading.Event()
    written = [1000]

    def on_durable(value: int) -> None:
        durable.append(value)
        reported.set()

    sync = BackgroundSync(fd, lambda: written[0], on_durable)
    try:
        sync.request()
        assert reported.wait(WAIT)
    finally:
        sync.stop()
        os.close(fd)
    assert durable == [1000]


def test_requests_during_a_sync_fold_into_one(tmp_path: Path) -> None:
    """Asking again while a sync runs makes one more sync, not one per request."""
    fd = _file(tmp_path)
    gate, in_first = threading.Event(), threading.Event()
    snapshots: list[int] = []
    durable: list[int] = []
    second = threading.Event()

    def snapshot() -> int:
        snapshots.append(len(snapshots) + 1)
        if len(snapshots) == 1:
            in_first.set()
            assert gate.wait(WAIT)
        return snapshots[-1]

    def on_durable(value: int) -> None:
        durable.append(value)
        if value == 2:
            second.set()

    sync = BackgroundSync(fd, snapshot, on_durable)
    try:
        sync.request()
        assert in_first.wait(WAIT)
        for _ in range(5):
            sync.request()
        gate.set()
        assert second.wait(WAIT)
    finally:
        sync.stop()
        os.close(fd)
    assert durable == [1, 2]


def test_a_failed_sync_claims_nothing() -> None:
    """When the sync fails, nothing is reported durable (the final fsync reports the error)."""
    taken = threading.Event()
    durable: list[int] = []

    def snapshot() -> int:
        taken.set()
        return 1

    read_end, write_end = os.pipe()  # a pipe cannot be synced: every sync fails
    sync = BackgroundSync(write_end, snapshot, durable.append)
    try:
        sync.request()
        assert taken.wait(WAIT)
    finally:
        sync.stop()
        os.close(read_end)
        os.close(write_end)
    assert durable == []


def test_a_sync_never_asked_for_starts_no_thread() -> None:
    """A small file that never asks for a sync costs no thread, and stopping syncs nothing."""
    calls: list[int] = []
    sync = BackgroundSync(0, lambda: calls.append(1) or 0)
    assert not sync.started
    sync.stop()
    assert calls == []
    assert not sync.started


def test_datasync_flushes_a_real_file(tmp_path: Path) -> None:
    """Syncing a regular file works (fdatasync where the platform has it)."""
    fd = _file(tmp_path)
    try:
        datasync(fd)
    finally:
        os.close(fd)
