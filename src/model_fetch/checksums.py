"""Checksums written ``algo:hex``, and the streaming hashers that check them.

A checksum names its algorithm and its hex digest: ``sha256:9f86d0...``. A bare 64-character hex
string is taken as sha256. Hex is case-insensitive and normalised to lower case. Anything else
(an unknown algorithm, a digest of the wrong length, a non-hex character) raises
:class:`~model_fetch.exceptions.InvalidRequest` before it is used anywhere.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

import attrs

from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ALGORITHMS", "CHECKSUM_PATTERN", "SOURCE_ALGORITHMS", "Checksum", "parse_checksum"]

#: The supported algorithms and the length of their hex digests.
ALGORITHMS: Final[dict[str, int]] = {
    "sha256": 64,
    "sha512": 128,
    "sha1": 40,
    "md5": 32,
    "blake2b": 128,
}

#: Digests that sources (not users) supply: a git blob id is sha1 over "blob <size>\0" + bytes,
#: which is how the Hugging Face Hub identifies regular (non-LFS) files.
SOURCE_ALGORITHMS: Final[dict[str, int]] = {"git-blob-sha1": 40}

_HEX = re.compile(r"[0-9a-f]+")

#: The whole ``checksum`` syntax as a regular expression (the REST API's schema publishes it).
CHECKSUM_PATTERN: Final = (
    "^(?:(?:sha256:)?[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128}|sha1:[0-9a-fA-F]{40}"
    "|md5:[0-9a-fA-F]{32}|blake2b:[0-9a-fA-F]{128})$"
)


def _new(algorithm: str) -> Callable[[], hashlib._Hash]:
    if algorithm == "md5":
        # md5 and sha1 check integrity against a digest the user chose; they protect nothing else.
        return lambda: hashlib.md5(usedforsecurity=False)
    if algorithm == "sha1":
        return lambda: hashlib.sha1(usedforsecurity=False)
    return lambda: hashlib.new(algorithm)


@attrs.frozen
class Checksum:
    """An expected digest.

    Attributes:
        algorithm: One of :data:`ALGORITHMS`.
        hexdigest: The lower-case hex digest.
    """

    algorithm: str
    hexdigest: str

    def __attrs_post_init__(self) -> None:
        """Refuse a digest that does not fit its algorithm."""
        length = ALGORITHMS.get(self.algorithm) or SOURCE_ALGORITHMS.get(self.algorithm)
        if length is None:
            raise InvalidRequest(
                f"Unsupported checksum algorithm {self.algorithm!r}; "
                f"use one of {', '.join(ALGORITHMS)}",
            )
        if len(self.hexdigest) != length or not _HEX.fullmatch(self.hexdigest):
            raise InvalidRequest(
                f"Malformed {self.algorithm} checksum: expected {length} hex characters",
            )

    def __str__(self) -> str:
        """Return the ``algo:hex`` form."""
        return f"{self.algorithm}:{self.hexdigest}"

    def hasher(self, size: int | None = None) -> hashlib._Hash:
        """Return a fresh hash object for this algorithm.

        Args:
            size: The file's size; required for ``git-blob-sha1``, whose digest covers a header
                that holds the size.

        Raises:
            InvalidRequest: A git blob id is to be checked but the size is unknown.
        """
        if self.algorithm == "git-blob-sha1":
            if size is None:
                raise InvalidRequest("A git blob id can only be checked when the size is known")
            digest = hashlib.sha1(usedforsecurity=False)
            digest.update(b"blob %d\0" % size)
            return digest
        return _new(self.algorithm)()

    def matches(self, hexdigest: str) -> bool:
        """Tell whether a computed hex digest equals this one."""
        return hexdigest.lower() == self.hexdigest


def parse_checksum(value: str | Checksum | None) -> Checksum | None:
    """Parse ``algo:hex`` (or a bare sha256 hex) into a :class:`Checksum`.

    Args:
        value: The checksum text, an existing Checksum, or None.

    Returns:
        The parsed checksum, or None when ``value`` is None or empty.

    Raises:
        InvalidRequest: The text is not a well-formed checksum of a supported algorithm.
    """
    if value is None or isinstance(value, Checksum):
        return value
    if not isinstance(value, str):
        raise InvalidRequest("checksum must be a string such as 'sha256:<64 hex>'")
    text = value
    if not text:
        raise InvalidRequest("checksum must not be empty; leave it out to skip verification")
    if ":" in text:
        algorithm, _, digest = text.partition(":")
        algorithm = algorithm.lower()
        if algorithm not in ALGORITHMS:
            raise InvalidRequest(
                f"Unsupported checksum algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}",
            )
        return Checksum(algorithm, digest.lower())
    if len(text) == ALGORITHMS["sha256"]:
        return Checksum("sha256", text.lower())
    raise InvalidRequest(
        "Malformed checksum: write it as 'algo:hex' (for example 'sha256:<64 hex>'); "
        "a bare hex string is accepted only for sha256",
    )
