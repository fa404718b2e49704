"""Byte ranges: parsing and checking a ranged answer, and the set of complete ranges of a file.

:func:`check_content_range` is the one judge of a ``206``: the single-stream resume and every
parallel segment (HTTP or fsspec) accept bytes only when it says they are the range asked for, so
bytes from another range, or another version of the file, are never placed.
"""

from __future__ import annotations

import bisect
import re
import threading
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ContentRange",
    "Coverage",
    "RangeFailed",
    "Spans",
    "check_content_range",
    "parse_content_range",
    "usable_validator",
]

_CONTENT_RANGE: Final = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)

#: Byte ranges as ``(start, end)`` pairs, end exclusive.
Spans = tuple[tuple[int, int], ...]


class RangeFailed(Exception):
    """A range could not be fetched; ``restart`` means ranges cannot be trusted at all."""

    def __init__(self, reason: str, *, restart: bool = False) -> None:
        """Record why."""
        super().__init__(reason)
        self.reason = reason
        self.restart = restart


@attrs.frozen
class ContentRange:
    """A parsed ``Content-Range: bytes start-end/total`` (end inclusive; total None when ``*``)."""

    start: int
    end: int
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """Parse a Content-Range header; None when it is missing or malformed."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if not match:
        return None
    start, end, total = match.groups()
    parsed = ContentRange(int(start), int(end), None if total == "*" else int(total))
    if parsed.end < parsed.start or (parsed.total is not None and parsed.end >= parsed.total):
        return None
    return parsed


def check_content_range(
    value: str | None, *, start: int, end: int | None, size: int | None
) -> ContentRange | None:
    """The range a ``206`` carries, when it is exactly the one asked for; else None.

    Args:
        value: The answer's Content-Range header.
        start: The first byte asked for.
        end: The byte after the last one asked for, or None for "to the end of the file".
        size: The file's size when known: the answer must name it (or ``*``).

    Returns:
        The parsed range, or None when the bytes must not be placed.
    """
    parsed = parse_content_range(value)
    if parsed is None or parsed.start != start:
        return None
    if end is not None and parsed.end != end - 1:
        return None
    if size is not None and parsed.total not in (None, size):
        return None
    return parsed


def usable_validator(etag: str | None, last_modified: str | None) -> str | None:
    """The validator to send in If-Range: a strong ETag, else Last-Modified, else None.

    A weak ETag (``W/"..."``) may not be used with If-Range (RFC 9110), and without any
    validator a resumed range could splice two different versions of the file.
    """
    if etag and not etag.strip().startswith("W/"):
        return etag.strip()
    if last_modified:
        return last_modified.strip()
    return None


class Coverage:
    """The byte ranges of a file that are complete, kept merged and sorted (thread-safe).

    Args:
        spans: Ranges already complete (from a resumed partial).
    """

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        """Start with ``spans``."""
        self._lock = threading.Lock()
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        """Mark ``[start, end)`` complete."""
        if end <= start:
            return
        with self._lock:
            first = bisect.bisect_left(self._ends, start)  # first span that ends at or after it
            last = bisect.bisect_right(self._starts, end)  # spans from first..last-1 touch it
            if first < last:
                start = min(start, self._starts[first])
                end = max(end, self._ends[last - 1])
            self._starts[first:last] = [start]
            self._ends[first:last] = [end]

    def prefix(self) -> int:
        """How many bytes from the start of the file are complete."""
        with self._lock:
            return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def total(self) -> int:
        """How many bytes are complete in all."""
        with self._lock:
            return sum(end - start for start, end in zip(self._starts, self._ends, strict=True))

    def spans(self) -> Spans:
        """The complete ranges."""
        with self._lock:
            return tuple(zip(self._starts, self._ends, strict=True))

    def gaps(self, size: int) -> Spans:
        """The ranges of ``[0, size)`` that are not complete."""
        gaps: list[tuple[int, int]] = []
        position = 0
        for start, end in self.spans():
            if start > position:
                gaps.append((position, min(start, size)))
            position = max(position, end)
        if position < size:
            gaps.append((position, size))
        return tuple(gaps)
