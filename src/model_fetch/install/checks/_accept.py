"""Files a user trusts by name: not searched for pickles, not loaded by the torch check."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["accepted"]


def accepted(path: Path, accept: frozenset[str]) -> bool:
    """Tell whether the user accepted a file: its name, its path or a path suffix matches.

    Args:
        path: The file.
        accept: Names or glob patterns (``training_args.bin``, ``*.joblib``).

    Returns:
        True when a pattern matches the file's name, its whole path, or the end of its path.
    """
    posix = path.as_posix()
    return any(
        fnmatchcase(path.name, pattern)
        or fnmatchcase(posix, pattern)
        or posix.endswith("/" + pattern.lstrip("/"))
        for pattern in accept
    )
