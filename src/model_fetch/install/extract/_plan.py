"""The pre-scan's policy: every member's name, type and size checked before anything is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import attrs

from model_fetch._paths import validate_relpath
from model_fetch.exceptions import InvalidRequest
from model_fetch.install.extract._values import UnsafeArchive

if TYPE_CHECKING:
    from pathlib import Path

    from model_fetch.install.extract._values import ExtractLimits

__all__ = ["Entry", "Job", "Plan", "check_name"]

DRIVE_LETTER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@attrs.frozen(kw_only=True)
class Job:
    """One extraction: the archive, where it goes, and its limits."""

    path: Path
    dest: Path
    label: str
    kind: str
    limits: ExtractLimits
    archive_size: int


@attrs.define
class Entry:
    path: str
    is_dir: bool
    size: int


def normalise_name(label: str, raw: str, *, is_dir: bool) -> str | None:
    """Return a member's name without ``./`` prefixes or a directory's trailing ``/``.

    None stands for the archive's root directory (``.`` or ``./``), which is skipped.
    """

    def refuse(reason: str) -> UnsafeArchive:
        return UnsafeArchive(archive=label, member=raw, reason=reason)

    if "\x00" in raw:
        raise refuse("the name contains a NUL character")
    if "\\" in raw:
        raise refuse("the name contains a backslash")
    name = raw.removesuffix("/") if is_dir else raw
    while name.startswith("./"):
        name = name[2:]
    if name in {"", "."}:
        if is_dir:
            return None
        raise refuse("the name is empty")
    if name.startswith("/"):
        raise refuse("the name is absolute")
    if len(name) >= 2 and name[1] == ":" and name[0] in DRIVE_LETTER:  # noqa: PLR2004
        raise refuse("the name starts with a drive letter")
    return name


def check_path(label: str, raw: str, name: str, limits: ExtractLimits) -> None:
    """Check a normalised member path against ``..``, the limits and the project's path rules."""

    def refuse(reason: str) -> UnsafeArchive:
        return UnsafeArchive(archive=label, member=raw, reason=reason)

    segments = name.split("/")
    if ".." in segments:
        raise refuse("the name contains '..'")
    if len(segments) > limits.max_depth:
        raise refuse(f"the path is deeper than max_depth ({limits.max_depth} levels)")
    try:
        length = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise refuse("the name is not valid UTF-8") from None
    if length > limits.max_path_length:
        raise refuse(f"the path is longer than max_path_length ({limits.max_path_length} bytes)")
    try:
        validate_relpath(name)
    except InvalidRequest as exc:
        raise refuse(str(exc)) from None


def check_name(label: str, raw: str, *, is_dir: bool, limits: ExtractLimits) -> str | None:
    """Validate a member name and return its normalised path (None for the root directory)."""
    name = normalise_name(label, raw, is_dir=is_dir)
    if name is not None:
        check_path(label, raw, name, limits)
    return name


class Plan:
    """The members of an archive, checked one by one and then as a whole."""

    def __init__(self, label: str, limits: ExtractLimits, archive_size: int) -> None:
        self.label = label
        self.limits = limits
        self.archive_size = archive_size
        self.entries: list[Entry | None] = []
        self._is_dir: dict[str, bool] = {}
        self._declared = 0

    def add(self, raw: str, *, is_dir: bool, size: int) -> Entry | None:
        limits = self.limits
        if len(self.entries) >= limits.max_members:
            reason = f"it has more than max_members ({limits.max_members}) members"
            raise UnsafeArchive(archive=self.label, reason=reason)
        path = check_name(self.label, raw, is_dir=is_dir, limits=limits)
        if path is None:
            self.entries.append(None)
            return None
        if path in self._is_dir:
            reason = f"the path {path!r} appears more than once"
            raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
        self._is_dir[path] = is_dir
        if not is_dir:
            # Early refusal on the sizes the headers declare; the bytes written are what count.
            self._declared += size
            if size > limits.max_file_bytes:
                reason = f"its declared size exceeds max_file_bytes ({limits.max_file_bytes})"
                raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
            if self._declared > limits.max_total_bytes:
                reason = f"the declared sizes exceed max_total_bytes ({limits.max_total_bytes})"
                raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
            if self._declared > limits.max_ratio * max(self.archive_size, 1):
                reason = f"the declared sizes exceed max_ratio ({limits.max_ratio}:1)"
                raise UnsafeArchive(archive=self.label, member=raw, reason=reason)
        entry = Entry(path=path, is_dir=is_dir, size=size)
        self.entries.append(entry)
        return entry

    def finish(self) -> None:
        """Refuse a member that would lie inside a file member."""
        for path in self._is_dir:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                ancestor = "/".join(parts[:depth])
                if self._is_dir.get(ancestor) is False:
                    reason = f"it would lie inside the file member {ancestor!r}"
                    raise UnsafeArchive(archive=self.label, member=path, reason=reason)
