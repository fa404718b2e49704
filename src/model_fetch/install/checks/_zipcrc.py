"""The CRC check of a zip checkpoint: every member read once, streamed, against its CRC-32.

``torch.load`` does not check CRCs: a byte flipped inside a tensor's data loads, silently
changed. ``zipfile``'s own ``testzip`` reads every member in 1 MiB chunks and compares the CRC-32
recorded in the archive, so the cost is one sequential read of the file (no memory beyond the
chunk); a truncated or overwritten central directory is found when the archive is opened.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ZIP_CHECK", "ZIP_ERRORS", "zip_damage"]

#: The ``checked`` name of the CRC check.
ZIP_CHECK: Final = "zip.crc"
#: What ``zipfile`` raises on a damaged archive: a flipped "version needed" field raises
#: NotImplementedError, a flipped name UnicodeDecodeError (a ValueError), a flipped count
#: struct.error or OverflowError.
ZIP_ERRORS: Final = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    OverflowError,
    struct.error,
)


def zip_damage(path: Path) -> str | None:
    """Say how a zip archive is damaged, or None when every member matches its CRC.

    Args:
        path: The archive.

    Returns:
        None when it is sound; otherwise what is wrong, naming the first bad member.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except ZIP_ERRORS as exc:
        return f"it cannot be read as a zip archive ({exc})"
    except OSError as exc:
        return f"cannot read the file: {exc}"
    if bad is not None:
        return f"member {bad!r} does not match its CRC-32 (the bytes were changed after saving)"
    return None
