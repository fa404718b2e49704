"""Resumable partial downloads: the pure rules, and the partial file with its sidecar.

A partial download is a file plus a small JSON sidecar: the URL (without its query), the
validator the server gave (a strong ETag or Last-Modified), the expected size, and how many bytes
from the start are **on disk** (the sidecar is only ever updated after an fsync, so it never
claims bytes that a crash could lose). A later attempt, in this process or another, resumes
with ``Range: bytes=N-`` and ``If-Range: <validator>``:

- a ``206`` whose ``Content-Range`` starts at N is appended;
- a ``200`` means the file changed (or ranges are not supported): start again from zero;
- a ``206`` that starts anywhere else is never spliced: start again from zero.

A parallel download (see :mod:`._parallel`) also records the byte ranges beyond the prefix that
are on disk; a later parallel attempt with the same validator and size fetches only the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import uuid
from typing import Any, Final

import attrs

from model_fetch._models import iso_timestamp

__all__ = ["ContentRange", "PartialFile", "ResumeState", "parse_content_range", "usable_validator"]

_CONTENT_RANGE: Final = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@attrs.frozen
class ContentRange:
    """A parsed ``Content-Range: bytes start-end/total`` (total None when ``*``)."""

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


@attrs.frozen(kw_only=True)
class ResumeState:
    """What a sidecar says about its partial file.

    Attributes:
        url: The file's URL without its query string.
        validator: The If-Range validator, or None (then the partial cannot be resumed).
        size: The file's full size, when known.
        completed: Bytes from the start that are on disk.
        ranges: Every byte range (start, end exclusive) on disk, from a parallel download;
            empty for a single stream, whose ``completed`` prefix says it all.
    """

    url: str
    validator: str | None
    size: int | None
    completed: int
    ranges: tuple[tuple[int, int], ...] = ()


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def _sane_ranges(ranges: tuple[tuple[int, int], ...], on_disk: int) -> bool:
    """Sorted, disjoint, non-empty ranges within the file (a sidecar is untrusted input)."""
    position = 0
    for start, end in ranges:
        if start < position or end <= start or end > on_disk:
            return False
        position = end
    return True


class PartialFile:
    """One resumable partial download under the store's ``.partials`` directory.

    Args:
        directory: The partials directory (created on first use).
        key: A stable name for this (model, version, file, URL).
        url: The file's URL.
    """

    def __init__(self, directory: str, key: str, url: str) -> None:
        """Name the partial; nothing is created until a download writes to it."""
        self.directory = directory
        self.path = os.path.join(directory, f"{key}.part")
        self.sidecar = os.path.join(directory, f"{key}.json")
        self.url = _strip_query(url)

    def load(self) -> ResumeState | None:
        """The state to resume from, or None when there is nothing usable."""
        try:
            with open(self.sidecar, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
            state = ResumeState(
                url=str(data["url"]),
                validator=data.get("validator"),
                size=data.get("size"),
                completed=int(data["completed"]),
                ranges=tuple((int(start), int(end)) for start, end in data.get("ranges", ())),
            )
            on_disk = os.path.getsize(self.path)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if state.url != self.url or state.validator is None or state.completed > on_disk:
            return None
        if not _sane_ranges(state.ranges, on_disk):
            return None
        return state

    def save(
        self,
        *,
        validator: str | None,
        size: int | None,
        completed: int,
        ranges: tuple[tuple[int, int], ...] = (),
    ) -> None:
        """Record progress; call only after the bytes it names were fsynced."""
        os.makedirs(self.directory, exist_ok=True)
        document = {
            "format": 1,
            "url": self.url,
            "validator": validator,
            "size": size,
            "completed": completed,
            "ranges": [list(span) for span in ranges],
            "updated_at": iso_timestamp(dt.datetime.now(dt.UTC)),
        }
        tmp = f"{self.sidecar}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.sidecar)

    def forget(self) -> None:
        """Delete the sidecar (after the finished file was moved away)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sidecar)

    def discard(self) -> None:
        """Delete the partial file and its sidecar."""
        for path in (self.path, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
