"""What a file of no known format holds, said so a user can act on it.

A gated URL fetched without credentials serves an HTML login page; an API error serves a JSON
body; a truncated download leaves a damaged zip. Named ``model.safetensors``, such a file must
fail with a reason that says what it really is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from model_fetch.install.checks._zipcrc import ZIP_ERRORS

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CONTENT_CHECK", "describe_content", "expected_format"]

#: The ``checked`` name of a file whose name says one format and whose bytes say another.
CONTENT_CHECK: Final = "content"
_SNIFF: Final = 64 * 1024
_BY_SUFFIX: Final = {
    ".safetensors": "safetensors",
    ".gguf": "GGUF",
    ".onnx": "ONNX",
    ".bin": "a PyTorch checkpoint",
    ".pt": "a PyTorch checkpoint",
    ".pth": "a PyTorch checkpoint",
    ".ckpt": "a PyTorch checkpoint",
    ".pkl": "a pickle",
    ".pickle": "a pickle",
}


def expected_format(path: Path) -> str | None:
    """The format a file's suffix promises, or None for a suffix that promises none."""
    return _BY_SUFFIX.get(path.suffix.lower())


def _zip_state(path: Path) -> str:
    import zipfile  # noqa: PLC0415 - only for files of no known format

    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (*ZIP_ERRORS, OSError) as exc:
        return f"a damaged zip archive (it cannot be opened: {exc}; was the download cut short?)"
    return "a zip archive holding no model format model_fetch knows"


def describe_content(path: Path) -> str:
    """Say what a file of no known format holds, in a phrase (``HTML (a web page ...)``).

    Args:
        path: The file.

    Returns:
        A description of its content, for a reason.

    Raises:
        OSError: The file cannot be read.
    """
    with path.open("rb") as stream:
        data = stream.read(_SNIFF)
    if not data:
        return "an empty file (0 bytes)"
    if data.startswith(b"PK\x03\x04"):
        return _zip_state(path)
    start = data.lstrip()[:512].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        start.startswith(b"<") and b"<html" in data[:4096].lower()
    ):
        return (
            "HTML (a web page, often a login or error page served in place of the file: check "
            "the URL and your credentials)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "no known model format"
    if text.lstrip().startswith(("{", "[")):
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            return "JSON (often an error body from the server: check the URL and your access)"
    return "text, not a model"
