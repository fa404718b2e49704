"""The verifier interface, which the built-in checks implement exactly as plugins do.

A :class:`Verifier` has a ``name`` and ``check(path)``. A verifier that also has
``check_files(files, options)`` (a :class:`FileVerifier`) sees every file of a model at once,
each with the format detected once for all verifiers, and says how its outcome counts
(:class:`Verdict`); the built-in checks are such verifiers. A plain :class:`Verifier` is asked
about each file in turn, and its outcome counts as passed or failed.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar, Final, Literal, Protocol, runtime_checkable

import attrs

from model_fetch.install.checks._detect import ModelFile, detect_file, is_weights

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from model_fetch.install.checks._readiness import Readiness

__all__ = [
    "DEFAULT_TORCH_TIMEOUT",
    "CheckOptions",
    "FileVerifier",
    "FormatVerifier",
    "Status",
    "Verdict",
    "Verifier",
]

#: Seconds a torch load check may take, per file.
DEFAULT_TORCH_TIMEOUT: Final = 120.0

#: How one outcome counts for the model: a check ran and passed, ran and failed, or could not run.
Status = Literal["passed", "failed", "unchecked"]


@attrs.frozen(kw_only=True)
class CheckOptions:
    """Settings of one model check, given to every :class:`FileVerifier`.

    Attributes:
        timeout: Seconds a torch load may take, per file.
        allow_torchscript: Load TorchScript archives too (this runs their code).
        memory_limit: Address-space limit of the check subprocesses (default from the file
            size).
        accept: Files the user trusts although they hold pickles that run code when loaded:
            names or glob patterns (``training_args.bin``, ``*.joblib``) matched against a
            file's name or its path.
    """

    timeout: float = DEFAULT_TORCH_TIMEOUT
    allow_torchscript: bool = False
    memory_limit: int | None = None
    accept: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class Verdict:
    """One verifier's outcome for one file, and how it counts.

    Attributes:
        status: ``passed``, ``failed`` or ``unchecked`` (no check could run: it neither passes
            nor fails the model, but leaves it not ready when nothing passed).
        readiness: The outcome itself.
    """

    status: Status
    readiness: Readiness

    @classmethod
    def of(cls, readiness: Readiness) -> Verdict:
        """Count an outcome: ready passes, a check that ran and said no fails, else unchecked."""
        if readiness.ready:
            return cls(status="passed", readiness=readiness)
        status: Status = "failed" if readiness.checked is not None else "unchecked"
        return cls(status=status, readiness=readiness)


@runtime_checkable
class Verifier(Protocol):
    """A check of model files, built in or from a plugin.

    Plugins register a verifier (an instance, or a class or factory called with no arguments) under
    the ``model_fetch.verifiers`` entry-point group, or with
    :func:`~model_fetch.install.checks.register_verifier`.

    Attributes:
        name: A short name, shown in results.
    """

    @property
    def name(self) -> str:
        """A short name, shown in results."""
        ...

    def check(self, path: Path) -> Readiness | None:
        """Check one file.

        Args:
            path: A file of the model.

        Returns:
            The outcome, or None when this verifier does not apply to the file.
        """
        ...


@runtime_checkable
class FileVerifier(Verifier, Protocol):
    """A verifier that judges all of a model's files at once, given their detected formats."""

    def check_files(
        self, files: Sequence[ModelFile], options: CheckOptions
    ) -> Sequence[Verdict | None]:
        """Judge every file of a model.

        Args:
            files: The model's files, each with its detected format.
            options: The settings of this model check.

        Returns:
            One verdict per file, in order; None where this verifier does not apply.
        """
        ...


class FormatVerifier(abc.ABC):
    """Base of the built-in checks: one check for a set of formats, applied to weights files.

    Subclasses set :attr:`name` and :attr:`formats` and implement :meth:`judge`.
    """

    name: ClassVar[str]
    formats: ClassVar[frozenset[str]]

    @abc.abstractmethod
    def judge(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        """Check files of this verifier's formats; one outcome per file, in order."""

    def verdict(self, _file: ModelFile, readiness: Readiness) -> Verdict:
        """How an outcome of :meth:`judge` counts (see :meth:`Verdict.of`)."""
        return Verdict.of(readiness)

    def applies(self, file: ModelFile) -> bool:
        """Tell whether this verifier judges a file: a weights file of one of its formats."""
        return file.format in self.formats and is_weights(file)

    def check_files(
        self, files: Sequence[ModelFile], options: CheckOptions
    ) -> list[Verdict | None]:
        """Judge the weights files of this verifier's formats; None for every other file."""
        mine = [file for file in files if self.applies(file)]
        outcomes = iter(self.judge(mine, options) if mine else [])
        return [
            self.verdict(file, next(outcomes)) if self.applies(file) else None for file in files
        ]

    def check(self, path: Path) -> Readiness | None:
        """Check one file with the default options; None when it is not this verifier's to judge.

        Args:
            path: A file of the model.

        Returns:
            The outcome, or None for a file of another format or one that holds no weights.
        """
        verdict = self.check_files([detect_file(path)], CheckOptions())[0]
        return None if verdict is None else verdict.readiness
