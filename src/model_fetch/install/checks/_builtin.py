"""The built-in checks together: one verifier per format, and the check of one file.

Each built-in verifier judges the weights files of its formats; between them they cover every
format :func:`~model_fetch.install.checks.detect_format` can answer, ``unknown`` included
(:class:`UnrecognisedVerifier`), so every weights file gets exactly one built-in outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

import attrs

from model_fetch.install.checks._content import CONTENT_CHECK, describe_content, expected_format
from model_fetch.install.checks._detect import (
    STRICT_SUFFIXES,
    UNCHECKED_FORMATS,
    detect_file,
    is_weights,
)
from model_fetch.install.checks._gguf import GgufVerifier
from model_fetch.install.checks._onnx import OnnxVerifier
from model_fetch.install.checks._pickle_verifier import PickleVerifier
from model_fetch.install.checks._readiness import Readiness, failed
from model_fetch.install.checks._safetensors import SafetensorsVerifier
from model_fetch.install.checks._torch import TorchVerifier
from model_fetch.install.checks._verifier import (
    DEFAULT_TORCH_TIMEOUT,
    CheckOptions,
    FormatVerifier,
    Status,
    Verdict,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from model_fetch.install.checks._detect import ModelFile

__all__ = ["BUILTIN_VERIFIERS", "BuiltinVerifier", "UnrecognisedVerifier", "check_file"]


@attrs.frozen
class UnrecognisedVerifier(FormatVerifier):
    """Weights files whose bytes match no known format, or that cannot be read.

    Such a file never passes. It fails when it cannot be read, or when its name says a format
    model_fetch checks (``.safetensors``, ``.bin``, ``.pt``, ``.onnx``, ``.gguf``, ...) and its
    content is none known (the reason says what it is: HTML, JSON, text, a damaged zip). A file
    of a format without a check (TFLite, HDF5, Keras, SavedModel, CoreML) or of no format with a
    non-promising name is unchecked: "no check for <format>".
    """

    name: ClassVar[str] = "unrecognised"
    formats: ClassVar[frozenset[str]] = frozenset({"unknown"}) | UNCHECKED_FORMATS

    def judge(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        """Say why no check could run on each file."""
        del options  # nothing runs
        return [_unrecognised(file) for file in files]

    def verdict(self, file: ModelFile, readiness: Readiness) -> Verdict:
        """Fail unreadable files and strict suffixes; leave the others unchecked."""
        status: Status = "failed" if file.error is not None or _strict(file) else "unchecked"
        return Verdict(status=status, readiness=readiness)


def _strict(file: ModelFile) -> bool:
    """A file whose name promises a checked format and whose bytes are none known."""
    return file.format == "unknown" and file.path.suffix.lower() in STRICT_SUFFIXES


def _unrecognised(file: ModelFile) -> Readiness:
    if file.error is not None:
        return failed(None, f"cannot read the file: {file.error}")
    if _strict(file):
        try:
            content = describe_content(file.path)
        except OSError as exc:
            return failed(None, f"cannot read the file: {exc}")
        return failed(
            CONTENT_CHECK,
            f"its name says {expected_format(file.path)} but its content is {content}",
            format=file.format,
        )
    return failed(None, f"no check for format {file.format}", format=file.format)


#: One verifier per format, which together judge every weights file exactly once, and the
#: pickle verifier, which searches every other file for code that loading would run.
BUILTIN_VERIFIERS: Final[tuple[FormatVerifier | PickleVerifier, ...]] = (
    SafetensorsVerifier(),
    TorchVerifier(),
    GgufVerifier(),
    OnnxVerifier(),
    PickleVerifier(),
    UnrecognisedVerifier(),
)
_FORMAT_VERIFIERS: Final = tuple(v for v in BUILTIN_VERIFIERS if isinstance(v, FormatVerifier))


def _judge(file: ModelFile, options: CheckOptions) -> Readiness:
    """The built-in outcome for one file, whether or not it holds weights."""
    for verifier in _FORMAT_VERIFIERS:
        if file.format in verifier.formats:
            return verifier.judge([file], options)[0]
    return _unrecognised(file)  # pragma: no cover - the built-ins cover every format


def check_file(
    path: Path,
    *,
    timeout: float = DEFAULT_TORCH_TIMEOUT,
    allow_torchscript: bool = False,
    memory_limit: int | None = None,
) -> Readiness:
    """Check one file with the check its detected format calls for.

    Args:
        path: The file.
        timeout: Seconds a torch load may take.
        allow_torchscript: Load TorchScript archives too (this runs their code).
        memory_limit: Address-space limit of the torch subprocess (default from the file size).

    Returns:
        The check's outcome; ``ready=False`` with ``reason="no check for format ..."`` when the
        content matches no format with a check.
    """
    options = CheckOptions(
        timeout=timeout, allow_torchscript=allow_torchscript, memory_limit=memory_limit
    )
    return _judge(detect_file(path), options)


@attrs.frozen(kw_only=True)
class BuiltinVerifier:
    """Every built-in check (:data:`BUILTIN_VERIFIERS`) as one verifier, for weights files only.

    The registry holds the built-in checks one by one; this bundles them for callers who list
    their verifiers by hand (``check_model(path, verifiers=[BuiltinVerifier(), mine])``).

    Attributes:
        name: ``builtin``.
        timeout: Seconds a torch load may take (for :meth:`check`; a model check passes its own).
        allow_torchscript: Load TorchScript archives too (this runs their code), for :meth:`check`.
    """

    name: str = "builtin"
    timeout: float = DEFAULT_TORCH_TIMEOUT
    allow_torchscript: bool = False

    def check(self, path: Path) -> Readiness | None:
        """Check a weights file; return None for any other file.

        Args:
            path: A file of the model.

        Returns:
            The outcome of :func:`check_file`, or None when the file does not hold weights.
        """
        file = detect_file(path)
        if file.error is not None:
            return failed(None, f"cannot read the file: {file.error}")
        if not is_weights(file):
            return None
        options = CheckOptions(timeout=self.timeout, allow_torchscript=self.allow_torchscript)
        return _judge(file, options)

    def check_files(
        self, files: Sequence[ModelFile], options: CheckOptions
    ) -> list[Verdict | None]:
        """Run every built-in verifier; a failure wins, else the outcome for the file's format."""
        columns = [verifier.check_files(files, options) for verifier in BUILTIN_VERIFIERS]
        verdicts: list[Verdict | None] = []
        for index in range(len(files)):
            given = [column[index] for column in columns if column[index] is not None]
            failing = [verdict for verdict in given if verdict and verdict.status == "failed"]
            verdicts.append((failing or given or [None])[0])
        return verdicts
