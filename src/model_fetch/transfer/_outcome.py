"""What a transfer produced, the hashers that digest a file while it arrives, its size check."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import attrs

from model_fetch.exceptions import DownloadFailed

if TYPE_CHECKING:
    from collections.abc import Iterable

    from model_fetch._models import RemoteFile
    from model_fetch.checksums import Checksum

__all__ = ["FetchOutcome", "check_size", "new_hashers"]


@attrs.frozen(kw_only=True)
class FetchOutcome:
    """What one file's transfer produced.

    Attributes:
        size: Bytes written.
        sha256: Hex sha256 of the bytes.
        digests: Hex digests by algorithm, for sha256 and every expected checksum's algorithm.
        attempts: How many attempts it took.
    """

    size: int
    sha256: str
    digests: dict[str, str]
    attempts: int

    @classmethod
    def of(cls, hashers: dict[str, hashlib._Hash], *, size: int, attempts: int) -> FetchOutcome:
        """The outcome of a transfer whose every byte went through ``hashers``."""
        digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
        return cls(size=size, sha256=digests["sha256"], digests=digests, attempts=attempts)


def new_hashers(checksums: Iterable[Checksum], size: int | None) -> dict[str, hashlib._Hash]:
    """One fresh hasher per algorithm: sha256 (for the install record) and each checksum's.

    Args:
        checksums: The digests the bytes will be checked against.
        size: The file's size, when known (a git blob id hashes it first).

    Raises:
        InvalidRequest: A git blob id is to be checked but the size is unknown.
    """
    hashers = {"sha256": hashlib.sha256()}
    for checksum in checksums:
        if checksum.algorithm not in hashers:
            hashers[checksum.algorithm] = checksum.hasher(size)
    return hashers


def check_size(remote: RemoteFile, size: int, url: str) -> None:
    """Fail when the plan knows the file's size and ``size`` bytes is not it."""
    if remote.size is not None and size != remote.size:
        raise DownloadFailed(
            f"Download failed: received {size} bytes from {url}, expected {remote.size}",
            url=url,
            bytes_received=size,
        )
