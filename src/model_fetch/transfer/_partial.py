"""A resumable partial download: the partial file and its JSON sidecar.

The sidecar holds the URL (without its query), the validator the server gave (a strong ETag or
Last-Modified), the expected size, and how many bytes from the start are **on disk**: it is only
ever updated after an fsync, so it never claims bytes that a crash could lose. A parallel download
also records the byte ranges beyond the prefix that are on disk. What a later attempt does with
it is decided in :mod:`._resume`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from typing import Any

from model_fetch._models import iso_timestamp
from model_fetch.transfer._resume import ResumeState

__all__ = ["PartialFile"]


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
