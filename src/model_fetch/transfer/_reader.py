"""Range readers: read bytes ``[start, end)`` of a remote object as a stream.

The parallel engine (:mod:`._parallel`) fetches a file's segments through a :class:`RangeReader`
and does not care where they come from: :class:`._http_reader.HttpRangeReader` sends ``Range`` +
``If-Range`` and accepts only a ``206`` that :func:`._ranges.check_content_range` approves;
:class:`FsspecRangeReader` reads an object on any fsspec filesystem (the fleet mirror's bucket).
The two live apart so the mirror's copy does not load urllib3.

A stream raises :class:`._retry.Retryable` for a failure worth repeating (a connection lost),
:class:`._ranges.RangeFailed` when the answer breaks the range rules, and anything else as is.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from model_fetch.transfer._ranges import RangeFailed

__all__ = ["FsspecRangeReader", "RangeReader", "RangeStream"]

#: The largest read from an object store at once: one request, held in memory until written.
FSSPEC_BLOCK: Final = 8 * 2**20


class RangeStream(Protocol):
    """The bytes of one range, read in order."""

    def read(self, limit: int) -> bytes:
        """Return the next bytes, at most ``limit`` of them; ``b""`` at the end of the range."""
        ...

    def shutdown(self) -> None:
        """Make a read blocked in another thread return (a cancel); safe to call any time."""
        ...

    def release(self, *, complete: bool) -> None:
        """Let go of the stream; ``complete`` when every byte of the range was read."""
        ...


class RangeReader(Protocol):
    """Opens ranges of one remote object."""

    def open(self, start: int, end: int) -> RangeStream:
        """Open the bytes ``[start, end)``.

        Raises:
            Retryable: The request failed in a way that may pass.
            RangeFailed: The answer is not exactly that range (``restart``: ranges cannot be
                trusted at all).
        """
        ...


class _FsspecStream:
    def __init__(self, fs: Any, path: str, start: int, end: int, block: int) -> None:
        self._fs = fs
        self._path = path
        self._position = start
        self._end = end
        self._block = block

    def read(self, limit: int) -> bytes:
        size = min(self._block, limit, self._end - self._position)
        if size <= 0:
            return b""
        # The filesystem retries its own requests; what still fails is not retried here.
        data: bytes = self._fs.cat_file(self._path, start=self._position, end=self._position + size)
        if len(data) != size:  # an object store answers a range whole, or the object changed
            raise RangeFailed(f"{self._path}: short read at byte {self._position}")
        self._position += size
        return data

    def shutdown(self) -> None:
        """A read in flight finishes; the next one sees the cancel."""

    def release(self, *, complete: bool) -> None:
        """Nothing is held between reads."""


class FsspecRangeReader:
    """Ranges of one object on an fsspec filesystem, each read as ``cat_file`` blocks.

    Args:
        fs: The filesystem.
        path: The object's path on it.
        block: The largest read at once (one request; memory held per stream).
    """

    def __init__(self, fs: Any, path: str, *, block: int = FSSPEC_BLOCK) -> None:
        """Keep the object's name; nothing is read until a range is opened."""
        self._fs = fs
        self._path = path
        self._block = block

    def open(self, start: int, end: int) -> RangeStream:
        """Open ``[start, end)``; the first read sends the first request."""
        return _FsspecStream(self._fs, self._path, start, end, self._block)
