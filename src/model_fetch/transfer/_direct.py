"""Appending to a file with ``O_DIRECT`` from page-aligned buffers, on a thread of its own.

Written through the page cache, a durable download pays twice: the copy into the cache and the
write-back the final sync waits for. ``O_DIRECT`` writes go from the buffer to the disk, so when
the last byte is written the data is already there and the final fsync is short (see
docs/benchmarks.md for the measurements). The rules of ``O_DIRECT`` are met here: every direct
write starts at an aligned offset, from an ``mmap`` (page-aligned) buffer, with an aligned length.
The bytes that do not fit those rules (a resumed download's unaligned head, the file's last
partial block) go through the ordinary descriptor, to other pages of the same file.

A filesystem that refuses ``O_DIRECT`` (at open, or with ``EINVAL`` at the first write, such as
tmpfs on older kernels) gets the buffered writes it would have had anyway; on platforms without
``O_DIRECT`` or ``/proc/self/fd`` :func:`open_direct` returns None and the caller writes buffered.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import sys
import threading
from typing import Final

__all__ = ["ALIGN", "BLOCK", "BUFFERS", "THREADS", "DirectAppender", "open_direct"]

#: Direct writes start at multiples of this and are multiples of it long (the page size).
ALIGN: Final = mmap.PAGESIZE
#: The size of one staging buffer (one direct write).
BLOCK: Final = 2 * 1024 * 1024
#: Staging buffers: one filling, the others being written (bounds memory to BUFFERS x BLOCK).
BUFFERS: Final = 4
#: Direct writes in flight at once (a disk writes one request at a time slower than several).
THREADS: Final = 2


def open_direct(fd: int) -> int | None:
    """A second, write-only ``O_DIRECT`` descriptor of ``fd``'s file, or None where refused."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or not sys.platform.startswith("linux"):
        return None
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | flag | os.O_CLOEXEC)
    except OSError:
        return None


class DirectAppender:
    """Appends bytes to a file from byte ``start`` on, the aligned blocks with ``O_DIRECT``.

    :meth:`append` copies into a staging buffer; each full buffer is written by one of
    :data:`THREADS` threads, so the disk works while the caller hashes the next buffer.
    :attr:`flushed` is how many bytes from the start of the file were handed to the kernel (a
    sync makes them durable).

    Args:
        fd: The file, open for writing (unaligned heads and tails are written through it).
        direct: Its ``O_DIRECT`` descriptor from :func:`open_direct`; closed by :meth:`close`.
        start: Where the appended bytes go (the file is already that long).
    """

    def __init__(self, fd: int, direct: int, *, start: int) -> None:
        """Allocate the staging buffers and start the writing thread."""
        self._fd = fd
        self._direct_fd = direct
        self._direct: int | None = direct  # None once the filesystem refused a direct write
        self.flushed = start
        self.error: BaseException | None = None
        self._offset = start  # where the current buffer's first byte goes
        self._maps = [mmap.mmap(-1, BLOCK) for _ in range(BUFFERS)]
        self._free: queue.Queue[memoryview] = queue.Queue()
        for buffer in self._maps:
            self._free.put(memoryview(buffer))
        self._pending: queue.Queue[tuple[memoryview, int, int] | None] = queue.Queue()
        self._buffer: memoryview | None = None
        self._fill = 0
        self._lock = threading.Lock()
        self._done: dict[int, int] = {}  # written ranges past ``flushed``: start -> end
        self._threads = [
            threading.Thread(target=self._run, name="model_fetch-direct", daemon=True)
            for _ in range(THREADS)
        ]
        for thread in self._threads:
            thread.start()

    def append(self, data: bytes | memoryview) -> None:
        """Take ``data`` as the next bytes of the file (raises a write error of earlier bytes)."""
        view = memoryview(data)
        if self._buffer is None and self._offset % ALIGN and view:
            # A resumed file ends mid-page: bring it to a page boundary through the cache.
            head = view[: ALIGN - self._offset % ALIGN]
            self._write_buffered(head, self._offset)
            self._offset += len(head)
            self.flushed = self._offset
            view = view[len(head) :]
        while view:
            if self.error is not None:
                raise self.error
            if self._buffer is None:
                self._buffer = self._free.get()
            taken = min(len(view), BLOCK - self._fill)
            self._buffer[self._fill : self._fill + taken] = view[:taken]
            self._fill += taken
            view = view[taken:]
            if self._fill == BLOCK:
                self._submit()

    def close(self) -> None:
        """Write what is still buffered, stop the thread; raise the first write error."""
        if self._buffer is not None and self._fill and self.error is None:
            self._submit()
        for _ in self._threads:
            self._pending.put(None)
        for thread in self._threads:
            thread.join()
        if self._direct_fd >= 0:
            os.close(self._direct_fd)
            self._direct_fd = -1
            self._direct = None
        for buffer in self._maps:
            with contextlib.suppress(BufferError):  # a view still held elsewhere: GC frees it
                buffer.close()
        if self.error is not None:
            raise self.error

    def _submit(self) -> None:
        if self._buffer is None:  # pragma: no cover - callers check
            return
        self._pending.put((self._buffer, self._offset, self._fill))
        self._offset += self._fill
        self._buffer, self._fill = None, 0

    def _run(self) -> None:
        while (item := self._pending.get()) is not None:
            buffer, offset, length = item
            if self.error is None:
                try:
                    self._write(buffer[:length], offset)
                    self._completed(offset, offset + length)
                except BaseException as exc:  # noqa: BLE001 - raised by the next append
                    self.error = exc
            self._free.put(buffer)

    def _completed(self, start: int, end: int) -> None:
        """Count a written range; ``flushed`` moves over the ranges that join its end."""
        with self._lock:
            self._done[start] = end
            flushed = self.flushed
            while flushed in self._done:
                flushed = self._done.pop(flushed)
            self.flushed = flushed

    def _write(self, view: memoryview, offset: int) -> None:
        aligned = len(view) - len(view) % ALIGN
        while self._direct is not None and aligned:
            try:
                written = os.pwrite(self._direct, view[:aligned], offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._direct = None  # this filesystem refuses O_DIRECT writes: go buffered
                break
            view, offset, aligned = view[written:], offset + written, aligned - written
            if written % ALIGN:  # a short write off the alignment: finish through the cache
                break
        self._write_buffered(view, offset)

    def _write_buffered(self, view: memoryview, offset: int) -> None:
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written
