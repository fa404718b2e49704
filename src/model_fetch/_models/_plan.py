"""What a source resolves a request into: a plan of remote files."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

from model_fetch._paths import RelPath, Version, validate_relpath, validate_version
from model_fetch.checksums import Checksum, parse_checksum
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Plan", "RemoteFile"]


def _to_files(value: Iterable[RemoteFile]) -> tuple[RemoteFile, ...]:
    return tuple(value)


def _to_checksums(value: Iterable[Checksum | str] | Checksum | str | None) -> tuple[Checksum, ...]:
    if value is None:
        return ()
    if isinstance(value, Checksum | str):
        value = [value]
    parsed = (item if isinstance(item, Checksum) else parse_checksum(item) for item in value)
    return tuple(dict.fromkeys(item for item in parsed if item is not None))


_PREFIX = re.compile(r"[0-9a-f]{8,64}")


def _check_prefix(_: object, __: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _PREFIX.fullmatch(value):
        raise InvalidRequest(f"sha256_prefix {value!r} must be 8 to 64 lower-case hex digits")


@attrs.frozen(kw_only=True)
class RemoteFile:
    """One file a plan fetches.

    Attributes:
        url: Where to fetch it: an http(s) URL, or any fsspec URL.
        path: Its relative path inside the installed model.
        size: Its size in bytes, when known in advance (then it is verified).
        checksums: Every expected digest that is known; each one is verified.
        sha256_prefix: The leading hex digits of the sha256, when only those are published
            (torchvision's file names carry one); verified too.
        headers: Extra request headers for this file (a hub token). Credentials are sent to the
            file's own origin only, never across a redirect to another origin.
    """

    url: str
    path: RelPath = attrs.field(converter=validate_relpath)
    size: int | None = None
    checksums: tuple[Checksum, ...] = attrs.field(default=(), converter=_to_checksums)
    sha256_prefix: str | None = attrs.field(default=None, validator=_check_prefix)
    headers: dict[str, str] = attrs.field(factory=dict, repr=False)

    @property
    def verifiable(self) -> bool:
        """Whether a digest (full or prefix) will be checked against the bytes."""
        return bool(self.checksums) or self.sha256_prefix is not None

    def with_checksum(self, checksum: Checksum | None) -> RemoteFile:
        """Return a copy that also verifies ``checksum`` (the caller's own digest)."""
        if checksum is None:
            return self
        return attrs.evolve(self, checksums=(*self.checksums, checksum))


@attrs.frozen(kw_only=True)
class Plan:
    """What a source resolved a request into.

    Attributes:
        files: The files to fetch, at least one.
        version: The resolved version (a repository's "latest" becomes its concrete version).
        download_url: The URL to report (the file's URL, or the model's page for many files).
        source: The name of the source that made the plan.
    """

    files: tuple[RemoteFile, ...] = attrs.field(converter=_to_files)
    version: Version = attrs.field(converter=validate_version)
    download_url: str
    source: str

    def __attrs_post_init__(self) -> None:
        """Refuse an empty plan or duplicate paths."""
        if not self.files:
            raise InvalidRequest("A plan must list at least one file")
        paths = [file.path for file in self.files]
        if len(set(paths)) != len(paths):
            raise InvalidRequest("A plan lists the same file path twice")

    @property
    def total_size(self) -> int | None:
        """The plan's total size in bytes, or None if any file's size is unknown."""
        sizes = [file.size for file in self.files]
        if any(size is None for size in sizes):
            return None
        return sum(size for size in sizes if size is not None)
