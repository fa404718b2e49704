"""The values of an extraction: the error, the limits and the files written."""

from __future__ import annotations

from typing import Final

import attrs

from model_fetch.exceptions import InvalidRequest

__all__ = ["DEFAULT_LIMITS", "ExtractLimits", "ExtractedFile", "UnsafeArchive"]

GiB: Final = 1024**3


class UnsafeArchive(InvalidRequest):
    """An archive was refused: unsafe, corrupt, over a limit, or not what its name says (400).

    Attributes:
        archive: The archive's file name.
        member: The offending member's name as stored in the archive, or None when the archive as
            a whole is at fault.
        reason: Why it was refused, in words (a limit that was exceeded is named).
    """

    archive: str
    member: str | None
    reason: str

    def __init__(
        self,
        message: str | None = None,
        *,
        archive: str,
        member: str | None = None,
        reason: str,
    ) -> None:
        """Create the error.

        Args:
            message: The full message; built from the other arguments when None.
            archive: The archive's file name.
            member: The offending member, if one is to blame.
            reason: Why the archive was refused.
        """
        if message is None:
            where = f"archive {archive!r}" if member is None else f"{member!r} in {archive!r}"
            message = f"refused {where}: {reason}"
        super().__init__(message)
        self.archive = archive
        self.member = member
        self.reason = reason


@attrs.frozen(kw_only=True)
class ExtractLimits:
    """Limits that bound what one archive may write.

    The path limits can only tighten the project's own path rules (at most 32 segments and 1024
    characters, see :func:`model_fetch._paths.validate_relpath`).

    Attributes:
        max_total_bytes: Bytes written for all files together.
        max_members: Members (files, directories and anything else) in the archive.
        max_file_bytes: Bytes written for any one file.
        max_ratio: Bytes written per byte of the archive file; for zip also per member (bytes
            written per compressed byte of that entry).
        max_depth: Path segments in a member's name.
        max_path_length: UTF-8 bytes in a member's name.
    """

    max_total_bytes: int = attrs.field(
        default=50 * GiB,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_members: int = attrs.field(
        default=100_000,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_file_bytes: int = attrs.field(
        default=20 * GiB,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_ratio: float = attrs.field(
        default=1000,
        validator=[attrs.validators.instance_of((int, float)), attrs.validators.gt(0)],
    )
    max_depth: int = attrs.field(
        default=32,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )
    max_path_length: int = attrs.field(
        default=1024,
        validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
    )


#: The limits :func:`extract` applies unless told otherwise.
DEFAULT_LIMITS: Final = ExtractLimits()


@attrs.frozen(kw_only=True)
class ExtractedFile:
    """One regular file written by :func:`extract`.

    Attributes:
        path: Its path relative to the destination, with ``/`` separators.
        size: The bytes written.
        sha256: The hex SHA-256 of those bytes, computed while writing.
    """

    path: str
    size: int
    sha256: str
