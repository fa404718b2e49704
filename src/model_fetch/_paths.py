"""Validation of names, versions and relative paths, and their escaping into store paths.

Everything that becomes part of a path in the store passes through this module once: model names,
versions, and the relative file paths a source returns. Validated values carry a ``NewType`` so the
type checker tells validated from raw text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Final, NewType
from urllib.parse import quote

from model_fetch.exceptions import InvalidRequest

__all__ = [
    "NAME_PATTERN",
    "VERSION_PATTERN",
    "ModelName",
    "RelPath",
    "Version",
    "escape_segment",
    "model_id",
    "validate_name",
    "validate_relpath",
    "validate_version",
]

ModelName = NewType("ModelName", str)
Version = NewType("Version", str)
RelPath = NewType("RelPath", str)

MAX_SEGMENT = 128
MAX_NAME = 200
MAX_VERSION = 200
MAX_RELPATH = 1024
MAX_DEPTH = 32
#: The longest escaped segment: a file name may have 255 bytes, and the store adds at most
#: a suffix of five (``.json``) to one.
MAX_ESCAPED: Final = 250

#: The characters of a name or version segment. Names and versions are identifiers: no spaces,
#: no separators but "/", nothing a shell, a URL or a filesystem treats specially.
SEGMENT_CHARS: Final = "A-Za-z0-9._+=@,~-"
_NO_DOT: Final = SEGMENT_CHARS.replace(".", "")
# Any run of the characters except exactly "." and ".." (no look-ahead: JSON Schema and
# pydantic's regex engine must read it too).
_SEGMENT: Final = (
    rf"(?:[{_NO_DOT}][{SEGMENT_CHARS}]{{0,{MAX_SEGMENT - 1}}}"
    rf"|\.[{_NO_DOT}][{SEGMENT_CHARS}]{{0,{MAX_SEGMENT - 2}}}"
    rf"|\.\.[{SEGMENT_CHARS}]{{1,{MAX_SEGMENT - 2}}})"
)
#: The whole rule for names, as a regular expression (the REST API's schema publishes it).
NAME_PATTERN: Final = rf"^{_SEGMENT}(?:/{_SEGMENT})?$"
#: The whole rule for versions (several "/" allowed, as in refs/pr/1).
VERSION_PATTERN: Final = rf"^{_SEGMENT}(?:/{_SEGMENT}){{0,{MAX_DEPTH - 1}}}$"

# Drive letters ("C:"), and the characters Windows refuses, have no place in a model's path.
_DRIVE = re.compile(r"^[A-Za-z]:")
_FORBIDDEN_CHARS = frozenset('\\<>:"|?*')


def _check_text(kind: str, value: object, max_len: int) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{kind} must be a string, not {type(value).__name__}")
    if not value or not value.strip():
        raise InvalidRequest(f"{kind} must not be empty")
    if len(value) > max_len:
        raise InvalidRequest(f"{kind} is longer than {max_len} characters")
    if value != value.strip():
        raise InvalidRequest(f"{kind} {value!r} has leading or trailing whitespace")
    for char in value:
        if char == "\x00" or unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}:
            raise InvalidRequest(f"{kind} {value!r} contains a control character")
    if "\\" in value:
        raise InvalidRequest(f"{kind} {value!r} contains a backslash")
    return value


def _check_segments(kind: str, value: str, segments: list[str]) -> None:
    for segment in segments:
        if segment in {"", ".", ".."}:
            raise InvalidRequest(f"{kind} {value!r} has an empty, '.' or '..' path segment")
        if len(segment) > MAX_SEGMENT:
            raise InvalidRequest(f"{kind} {value!r} has a segment over {MAX_SEGMENT} characters")
        if _FORBIDDEN_CHARS.intersection(segment):
            shown = "".join(sorted(_FORBIDDEN_CHARS))
            raise InvalidRequest(f"{kind} {value!r} contains one of the characters {shown}")


def validate_name(value: object) -> ModelName:
    """Check a model name: one segment, or ``org/name`` with a single ``/``.

    Args:
        value: The name as given by the caller.

    Returns:
        The same text, marked as validated.

    Raises:
        InvalidRequest: The name is empty, too long, absolute, holds ``..``, a backslash, a
            control character, or more than one ``/``.
    """
    text = _check_text("model_name", value, MAX_NAME)
    segments = text.split("/")
    if len(segments) > 2:  # noqa: PLR2004 - "org/name" is the deepest a name goes
        raise InvalidRequest(f"model_name {text!r} may contain at most one '/' (as in 'org/name')")
    _check_segments("model_name", text, segments)
    if not re.match(NAME_PATTERN, text):
        raise InvalidRequest(
            f"model_name {text!r} may only contain letters, digits and . _ + = @ , ~ -",
        )
    return ModelName(text)


def validate_version(value: object) -> Version:
    """Check a version: any safe text, with ``/`` allowed (Hugging Face refs such as ``refs/pr/1``).

    Args:
        value: The version as given by the caller.

    Returns:
        The same text, marked as validated.

    Raises:
        InvalidRequest: The version is empty, too long, absolute, holds ``..``, a backslash or a
            control character.
    """
    text = _check_text("version", value, MAX_VERSION)
    _check_segments("version", text, text.split("/"))
    if not re.match(VERSION_PATTERN, text):
        raise InvalidRequest(
            f"version {text!r} may only contain letters, digits, '/' and . _ + = @ , ~ -",
        )
    return Version(text)


def validate_relpath(value: object) -> RelPath:
    """Check a file path inside a model, as returned by a source or found in an archive.

    Args:
        value: A relative POSIX path.

    Returns:
        The same path, marked as validated.

    Raises:
        InvalidRequest: The path is absolute, has a drive letter, ``..``, ``.``, an empty segment,
            a backslash, a control character, or is too long or too deep.
    """
    text = _check_text("file path", value, MAX_RELPATH)
    if text.startswith("/") or _DRIVE.match(text):
        raise InvalidRequest(f"file path {text!r} is absolute")
    segments = text.split("/")
    if len(segments) > MAX_DEPTH:
        raise InvalidRequest(f"file path {text!r} is deeper than {MAX_DEPTH} levels")
    _check_segments("file path", text, segments)
    return RelPath(text)


def escape_segment(value: str) -> str:
    """Escape any validated name or version into one path segment, injectively.

    Percent-encoding of every character outside ``[A-Za-z0-9_.-]`` (including ``%`` itself) is
    reversible, so two different inputs never share a directory, and a ``/`` can never nest one
    directory inside another. A leading ``.`` is escaped too, so no segment is hidden or special.

    Escaping can triple a value's length, past the 255 bytes a file name may have. An escaped
    form longer than :data:`MAX_ESCAPED` keeps its first characters and ends in ``~`` and the
    sha256 of the value: ``~`` never appears in a short form (it is escaped to ``%7E``), so long
    and short forms never meet, and two long forms differ wherever their values do.

    Args:
        value: A validated name or version.

    Returns:
        A single path segment of at most :data:`MAX_ESCAPED` ASCII characters.
    """
    escaped = quote(value, safe="")
    # quote() keeps "~"; keep the alphabet narrow so case-folding is the only caveat left.
    escaped = escaped.replace("~", "%7E")
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]
    if len(escaped) <= MAX_ESCAPED:
        return escaped
    digest = hashlib.sha256(value.encode()).hexdigest()
    prefix = escaped[: MAX_ESCAPED - len(digest) - 1]
    # Never end the readable part inside a %XX escape.
    cut = prefix.rfind("%", len(prefix) - 2)
    return f"{prefix[:cut] if cut != -1 else prefix}~{digest}"


def model_id(name: str, version: str) -> str:
    """Return the contract's ``model_id``: ``<name>_<version>``, with ``/`` written as ``--``."""
    return f"{name}_{version}".replace("/", "--")
