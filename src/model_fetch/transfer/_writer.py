"""The single-stream writer: hashes and writes received buffers on a thread of its own."""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from typing import TYPE_CHECKING, Final

from model_fetch.exceptions import InsufficientStorage
from model_fetch.transfer._direct import DirectAppender, open_direct
from model_fetch.transfer._flow import BackgroundSync

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable

__all__ = ["NO_SPACE", "QUEUE_DEPTH", "SYNC_EVERY", "SYNC_INTERVAL", "Writer", "no_space"]

#: Buffers in flight between the receiving thread and the writer (bounds memory).
QUEUE_DEPTH: Final = 32
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


class Writer:
    """Hashes and writes received buffers on a worker thread, overlapped with receiving.

    Memory is bounded by the queue depth (each item is one received buffer). Every
    :data:`SYNC_EVERY` bytes a third thread syncs the file to disk while the writer goes on, so
    the final fsync before the install record only has the last stretch to flush and no sync
    ever stalls the transfer. hashlib, ``os.write`` and ``fdatasync`` release the GIL, so the
    threads run in parallel. (A separate hashing thread was measured slower on two cores: the
    hand-offs cost more than the overlap gains.)

    Where the filesystem allows, the bytes go to disk with ``O_DIRECT`` through a
    :class:`._direct.DirectAppender` (its own thread writes while this one hashes), so there is
    no page-cache copy and no write-back left for the final fsync; elsewhere they are written
    through the page cache as before.
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
        self._written = start
        self._direct: DirectAppender | None = None
        self._may_direct = True
        self._syncer = BackgroundSync(fd, lambda: self.written, on_synced)
        self._thread = threading.Thread(target=self._run, name="model_fetch-writer", daemon=True)
        self._thread.start()

    @property
    def written(self) -> int:
        """Bytes from the start of the file handed to the kernel (a sync makes them durable)."""
        return self._direct.flushed if self._direct is not None else self._written

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
                    self._write(data)
                else:
                    self._end_direct()  # only hashed: the file already holds these bytes
                    self._written += len(data)
                unsynced += len(data)
                now = time.monotonic()
                if unsynced >= SYNC_EVERY or now - last_sync >= SYNC_INTERVAL:
                    self._syncer.request()
                    unsynced, last_sync = 0, now
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
                self._fail(exc)
        try:
            self._end_direct()  # what was received is written, also after a failure
        except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
            self._fail(exc)

    def _write(self, data: bytes | memoryview) -> None:
        if self._direct is None and self._may_direct:
            self._may_direct = False
            direct = open_direct(self._fd)
            if direct is not None:
                self._direct = DirectAppender(self._fd, direct, start=self._written)
        if self._direct is not None:
            self._direct.append(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._written += len(data)

    def _end_direct(self) -> None:
        """Write out and stop the direct appender; later bytes go through the descriptor."""
        direct, self._direct = self._direct, None
        if direct is None:
            return
        try:
            direct.close()
        finally:
            self._written = direct.flushed
            os.lseek(self._fd, self._written, os.SEEK_SET)

    def _fail(self, exc: BaseException) -> None:
        if self.error is not None:
            return
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            exc = no_space(exc, self.written)
        self.error = exc

    def close(self) -> None:
        """Flush the queue and stop the threads; raise the first error the writer met."""
        self._queue.put(None)
        self._thread.join()
        self._syncer.stop()
        if self.error is not None:
            raise self.error
