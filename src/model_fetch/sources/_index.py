"""The model repository index: its format, parsing and validation (format 1).

An index is a JSON document::

    {"format": 1,
     "models": {
       "resnet50": {"latest": "v1.0",
                    "versions": {"v1.0": {"files": [{"url": "resnet50-v1.0.pth",
                                                       "path": "resnet50-v1.0.pth",
                                                       "size": 102530333,
                                                       "sha256": "<64 hex>"}],
                                           "description": "...", "tags": ["vision"]}}}}}

``url`` may be relative to the index's own location. A file gives ``sha256`` (or another
``algo: hex`` key among sha512, sha1, md5, blake2b), or only ``sha256_prefix``; ``size`` may be
absent. Whatever is given is verified; nothing is invented. The JSON Schema is
``index.schema.json`` beside this module.
"""

from __future__ import annotations

import posixpath
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import attrs

from model_fetch._models import RemoteFile
from model_fetch._paths import validate_name, validate_relpath, validate_version
from model_fetch.checksums import ALGORITHMS, Checksum
from model_fetch.exceptions import InvalidRequest

__all__ = ["INDEX_FORMAT", "IndexModel", "IndexVersion", "RepositoryIndex", "parse_index"]

INDEX_FORMAT: Final = 1
_FILE_KEYS: Final = frozenset({"url", "path", "size", "sha256_prefix", *ALGORITHMS})
_VERSION_KEYS: Final = frozenset({"files", "description", "tags", "reference", "metadata"})
_MODEL_KEYS: Final = frozenset({"latest", "versions", "description", "tags", "reference"})


@attrs.frozen(kw_only=True)
class IndexVersion:
    """One version of a model in the index.

    Attributes:
        files: The files to fetch, with absolute URLs.
        description: Free text.
        tags: Free-form tags.
        reference: Where the locations and digests were published.
    """

    files: tuple[RemoteFile, ...]
    description: str = ""
    tags: tuple[str, ...] = ()
    reference: str = ""


@attrs.frozen(kw_only=True)
class IndexModel:
    """One model in the index.

    Attributes:
        latest: The version ``latest`` resolves to.
        versions: Every version by name.
        description: Free text.
    """

    latest: str
    versions: dict[str, IndexVersion]
    description: str = ""


@attrs.frozen(kw_only=True)
class RepositoryIndex:
    """A parsed index.

    Attributes:
        location: Where the index was read from (relative URLs resolve against it).
        models: Every model by name.
    """

    location: str
    models: dict[str, IndexModel]


def _resolve(location: str, url: str) -> str:
    if "://" in url:
        return url
    if urlsplit(location).scheme in {"http", "https"}:
        return urljoin(location, url)
    if "://" in location:
        protocol, _, path = location.partition("://")
        return f"{protocol}://{posixpath.normpath(posixpath.join(posixpath.dirname(path), url))}"
    return posixpath.normpath(posixpath.join(posixpath.dirname(location), url))


def _problem(where: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid repository index at {where}: {message}")


def _parse_file(where: str, location: str, entry: Any) -> RemoteFile:
    if not isinstance(entry, dict):
        raise _problem(where, "a file entry must be an object")
    unknown = set(entry) - _FILE_KEYS
    if unknown:
        raise _problem(where, f"unknown file key(s) {sorted(unknown)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url:
        raise _problem(where, "a file entry needs a 'url' string")
    path = entry.get("path") or posixpath.basename(urlsplit(url).path)
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise _problem(where, "'size' must be a non-negative integer")
    prefix = entry.get("sha256_prefix")
    try:
        checksums = [
            Checksum(algorithm, str(entry[algorithm]).lower())
            for algorithm in ALGORITHMS
            if algorithm in entry
        ]
        return RemoteFile(
            url=_resolve(location, url),
            path=validate_relpath(path),
            size=size,
            checksums=checksums,
            sha256_prefix=str(prefix).lower() if prefix is not None else None,
        )
    except InvalidRequest as exc:
        raise _problem(where, str(exc)) from None


def _parse_version(where: str, location: str, data: Any) -> IndexVersion:
    if not isinstance(data, dict):
        raise _problem(where, "a version must be an object")
    unknown = set(data) - _VERSION_KEYS
    if unknown:
        raise _problem(where, f"unknown version key(s) {sorted(unknown)}")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise _problem(where, "a version needs a non-empty 'files' list")
    parsed = tuple(_parse_file(f"{where}.files[{i}]", location, f) for i, f in enumerate(files))
    if len({f.path for f in parsed}) != len(parsed):
        raise _problem(where, "two files share a path")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _problem(where, "'tags' must be a list of strings")
    return IndexVersion(
        files=parsed,
        description=str(data.get("description", "")),
        tags=tuple(tags),
        reference=str(data.get("reference", "")),
    )


def parse_index(data: Any, location: str) -> RepositoryIndex:
    """Validate and parse an index document.

    Args:
        data: The decoded JSON.
        location: Where it was read from; relative file URLs resolve against it.

    Raises:
        InvalidRequest: The document does not follow format 1.
    """
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        raise _problem(location, f'expected an object with "format": {INDEX_FORMAT}')
    models = data.get("models")
    if not isinstance(models, dict):
        raise _problem(location, "'models' must be an object")
    parsed: dict[str, IndexModel] = {}
    for name, model in models.items():
        where = f"{location}#{name}"
        try:
            validate_name(name)
        except InvalidRequest as exc:
            raise _problem(where, str(exc)) from None
        if not isinstance(model, dict) or set(model) - _MODEL_KEYS:
            raise _problem(where, f"a model must be an object with keys {sorted(_MODEL_KEYS)}")
        versions = model.get("versions")
        if not isinstance(versions, dict) or not versions:
            raise _problem(where, "a model needs a non-empty 'versions' object")
        for version in versions:
            try:
                validate_version(version)
            except InvalidRequest as exc:
                raise _problem(where, str(exc)) from None
        latest = model.get("latest")
        if latest not in versions:
            raise _problem(where, f"'latest' ({latest!r}) is not one of its versions")
        parsed[name] = IndexModel(
            latest=str(latest),
            versions={
                version: _parse_version(f"{where}@{version}", location, entry)
                for version, entry in versions.items()
            },
            description=str(model.get("description", "")),
        )
    return RepositoryIndex(location=location, models=parsed)
