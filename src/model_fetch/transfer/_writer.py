"""The single-stream writer: hashes and writes received buffers on a thread of its own."""

from __future__ import annotations

import errno
import functools
import os
import queue
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from model_fetch.exceptions import InsufficientStorage
from model_fetch.transfer._flow import BackgroundSync

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable

__all__ = [
    "NO_SPACE",
    "QUEUE_DEPTH",
    "SYNC_EVERY",
    "SYNC_INTERVAL",
    "Writer",
    "no_space",
    "preallocate",
]

#: Buffers in flight between the receiving thread and the writer (bounds memory: 8 x 256 KiB;
#: 32 measured no faster and cost 6 MiB of peak RSS, see docs/decisions.md).
QUEUE_DEPTH: Final = 8
#: The writer syncs the file to disk every this many bytes, so the final fsync is short...
SYNC_EVERY: Final = 64 * 1024 * 1024
#: ...or every this many seconds, so a slow download records its progress for a resume too.
SYNC_INTERVAL: Final = 1.0
#: The errors of a full disk or quota.
NO_SPACE: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def no_space(exc: OSError, written: int) -> InsufficientStorage:
    """The error of a disk that filled up after ``written`` bytes."""
    error = InsufficientStorage(
        f"Insufficient storage space: the disk filled up after {written / 2**20:.1f}MB "
        f"({os.strerror(exc.errno or 0)})",
        required_bytes=None,
        available_bytes=0,
    )
    error.__cause__ = exc
    return error


def preallocate(fd: int, start: int, total: int) -> None:
    """Reserve the disk blocks of bytes ``[start, total)`` before they arrive (Linux only).

    ``fallocate(2)`` lets the filesystem lay the file out in one piece and turns a disk that
    cannot hold the file into an error now rather than after most of the transfer; the file is
    ``total`` bytes long afterwards. It is called directly, not through ``posix_fallocate``,
    because glibc emulates that on filesystems without the call (NFS, some FUSE) by writing to
    every block; there nothing is reserved.

    Raises:
        InsufficientStorage: The disk or the quota cannot hold the file.
    """
    fallocate = _fallocate()
    if fallocate is None or total <= start:
        return
    if fallocate(fd, 0, start, total - start) != 0:
        import ctypes  # noqa: PLC0415 - loaded by _fallocate already

        code = ctypes.get_errno()
        if code in NO_SPACE:
            raise no_space(OSError(code, os.strerror(code)), start)
        # EOPNOTSUPP, ENOSYS, EINVAL...: the bytes are written as they come, as elsewhere.


@functools.cache
def _fallocate() -> Any:
    """The C library's ``fallocate64``, or None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # noqa: PLC0415 - only a download needs it

    try:
        function = ctypes.CDLL(None, use_errno=True).fallocate64
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    function.restype = ctypes.c_int
    return function


class Writer:
    """Hashes and writes received buffers on a worker thread, overlapped with receiving.

    Memory is bounded by the queue depth (each item is one received buffer). Every
    :data:`SYNC_EVERY` bytes a third thread syncs the file to disk while the writer goes on, so
    the final fsync before the install record only has the last stretch to flush and no sync
    ever stalls the transfer. hashlib, ``os.write`` and ``fdatasync`` release the GIL, so the
    threads run in parallel. (A separate hashing thread was measured slower on two cores: the
    hand-offs cost more than the overlap gains.)
    """

    def __init__(
        self,
        fd: int,
        hashers: dict[str, hashlib._Hash],
        *,
        start: int = 0,
        on_synced: Callable[[int], None] | None = None,
    ) -> None:
        self._fd = fd
        self._hashers = list(hashers.values())
        self._queue: queue.Queue[tuple[bytes | memoryview, bool] | None] = queue.Queue(
            maxsize=QUEUE_DEPTH,
        )
        self.error: BaseException | None = None
        self.written = start
        self._syncer = BackgroundSync(fd, lambda: self.written, on_synced)
        self._thread = threading.Thread(target=self._run, name="model_fetch-writer", daemon=True)
        self._thread.start()

    def put(self, data: bytes | memoryview, *, write: bool) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((data, write))

    def _run(self) -> None:
        unsynced = 0
        last_sync = time.monotonic()
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the receiving side never blocks on a full queue
            data, write = item
            try:
                for hasher in self._hashers:
                    hasher.update(data)
                if write:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._fd, view) :]
                self.written += len(data)
                unsynced += len(data)
                now = time.monotonic()
                if unsynced >= SYNC_EVERY or now - last_sync >= SYNC_INTERVAL:
                    self._syncer.request()
                    unsynced, last_sync = 0, now
            except OSError as exc:
                self.error = no_space(exc, self.written) if exc.errno in NO_SPACE else exc
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
                self.error = exc

    def close(self) -> None:
        """Flush the queue and stop the threads; raise the first error the writer met."""
        self._queue.put(None)
        self._thread.join()
        self._syncer.stop()
        if self.error is not None:
            raise self.error
