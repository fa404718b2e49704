"""The model-level verdict: every verifier over a model's files, combined into one readiness.

Each file's format is detected once and handed to every verifier. A file's verdict is the first
``failed`` one any verifier gave it, else the first ``passed``, else the first ``unchecked``; a
file no verifier judged is left out. The model is ready when at least one file passed and none
failed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_fetch._log import get_logger
from model_fetch.install.checks._detect import ModelFile, detect_file
from model_fetch.install.checks._readiness import Readiness, failed, passed
from model_fetch.install.checks._registry import available_verifiers
from model_fetch.install.checks._verifier import (
    DEFAULT_TORCH_TIMEOUT,
    CheckOptions,
    FileVerifier,
    Verdict,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from model_fetch.install.checks._verifier import Verifier

__all__ = ["check_model", "judge_model"]

log = get_logger(__name__)

_PRECEDENCE = ("failed", "passed", "unchecked")


def _expand(files: Path | Iterable[Path]) -> tuple[list[Path], Path | None]:
    if isinstance(files, str | os.PathLike):
        root = Path(files)
        if root.is_dir():
            return sorted(path for path in root.rglob("*") if path.is_file()), root
        return [root], None
    paths: list[Path] = []
    for item in files:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(sub for sub in path.rglob("*") if sub.is_file()))
        else:
            paths.append(path)
    try:
        return paths, Path(os.path.commonpath([path.parent for path in paths]))
    except ValueError:  # no files, or relative and absolute paths mixed
        return paths, None


def _label(path: Path, root: Path | None) -> str:
    if root is not None:
        with contextlib.suppress(ValueError):
            return path.relative_to(root).as_posix()
    return path.name


def _broken(verifier: Verifier, reason: str) -> Verdict:
    return Verdict(status="failed", readiness=failed(verifier.name, reason))


def _ask(verifier: Verifier, path: Path) -> Verdict | None:
    """Ask a plain verifier about one file: its outcome passes or fails it."""
    try:
        outcome = verifier.check(path)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not pass a model
        log.warning("Verifier %r failed on %s: %s", verifier.name, path, exc)
        return _broken(verifier, f"verifier {verifier.name!r} failed: {exc}")
    if outcome is None:
        return None
    if not isinstance(outcome, Readiness):
        kind = type(outcome).__name__
        return _broken(verifier, f"verifier {verifier.name!r} returned {kind}, not a Readiness")
    return Verdict(status="passed" if outcome.ready else "failed", readiness=outcome)


def _ask_all(
    verifier: FileVerifier, files: Sequence[ModelFile], options: CheckOptions
) -> list[Verdict | None]:
    """Ask a verifier that judges every file at once; a failure of its own fails every file."""
    try:
        verdicts = list(verifier.check_files(files, options))
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not pass a model
        log.warning("Verifier %r failed: %s", verifier.name, exc)
        return [_broken(verifier, f"verifier {verifier.name!r} failed: {exc}")] * len(files)
    if len(verdicts) != len(files):
        reason = f"verifier {verifier.name!r} gave {len(verdicts)} verdicts for {len(files)} files"
        return [_broken(verifier, reason)] * len(files)
    return [
        item
        if item is None or isinstance(item, Verdict)
        else _broken(
            verifier, f"verifier {verifier.name!r} returned {type(item).__name__}, not a Verdict"
        )
        for item in verdicts
    ]


def _column(
    verifier: Verifier, files: Sequence[ModelFile], options: CheckOptions
) -> list[Verdict | None]:
    if isinstance(verifier, FileVerifier):
        return _ask_all(verifier, files, options)
    return [_ask(verifier, file.path) for file in files]


def _decide(verdicts: Iterable[Verdict | None]) -> Verdict | None:
    given = [verdict for verdict in verdicts if verdict is not None]
    for status in _PRECEDENCE:
        for verdict in given:
            if verdict.status == status:
                return verdict
    return None


def judge_model(
    paths: Sequence[Path],
    verifiers: Sequence[Verifier],
    options: CheckOptions,
    *,
    root: Path | None = None,
    detect: Callable[[Path], ModelFile] = detect_file,
) -> Readiness:
    """Run verifiers over files, detecting each file's format once, and combine the verdicts.

    Args:
        paths: The files.
        verifiers: The verifiers, in the order their verdicts take precedence.
        options: The settings given to every :class:`FileVerifier`.
        root: The directory the files' labels in the result are relative to.
        detect: Detects one file's format (called exactly once per file).

    Returns:
        The model's readiness (see :func:`check_model`).
    """
    files = [detect(path) for path in paths]
    columns = [_column(verifier, files, options) for verifier in verifiers]
    outcomes: dict[str, tuple[Verdict, str]] = {}
    for index, file in enumerate(files):
        verdict = _decide(column[index] for column in columns)
        if verdict is not None:
            outcomes[_label(file.path, root)] = (verdict, file.format)
    return _summarise(outcomes, len(files))


def check_model(
    files: Path | Iterable[Path],
    *,
    timeout: float = DEFAULT_TORCH_TIMEOUT,
    allow_torchscript: bool = False,
    verifiers: Sequence[Verifier] | None = None,
    accept: Iterable[str] = (),
) -> Readiness:
    """Decide whether an installed model is ready for inference.

    Every weights file (a known weights format by content, or a weights suffix such as ``.bin``,
    ``.pt`` or ``.h5``) is checked by the built-in check of its format; torch files share one
    subprocess (``timeout`` applies per file), as do the files of each format whose library
    checks them. Every other file, trainer state such as ``training_args.bin`` included, is
    searched for pickles that would run code when loaded, and fails when it holds one. Each
    plugin verifier sees every file and returns None when it does not apply. Other files (JSON,
    text, tokenizers) are ignored. Each file's format is detected once.

    A file *fails* when a check ran and said no, when a plugin said no, or when a file with a
    torch, safetensors, GGUF or ONNX suffix has content of no known format. A file is *unchecked*
    when no check could run (TorchScript without opt-in, torch not installed, or a format without
    a check such as ``.h5``) and no plugin passed it. The model is ready when at least one file
    passed and none failed.

    Args:
        files: The model's files, or its directory (searched recursively).
        timeout: Seconds a torch load may take, per file.
        allow_torchscript: Load TorchScript archives too (this runs their code).
        verifiers: The verifiers to run (default :func:`available_verifiers`: the built-in checks
            and the plugins). The built-in checks run when they are among them (one by one, or
            all as a :class:`BuiltinVerifier`), with this function's ``timeout`` and
            ``allow_torchscript``.
        accept: Files trusted although they hold pickles that run code when loaded (names or
            glob patterns, matched against each file's name and path); they are not scanned.

    Returns:
        The model's readiness: ``checked`` joins the checks that passed, ``reason`` lists the
        failing (or, when nothing passed, the unchecked) files with their reasons, and
        ``details["files"]`` holds every file's outcome.
    """
    paths, root = _expand(files)
    chosen = available_verifiers() if verifiers is None else list(verifiers)
    options = CheckOptions(
        timeout=timeout, allow_torchscript=allow_torchscript, accept=frozenset(accept)
    )
    return judge_model(paths, chosen, options, root=root)


def _summarise(outcomes: dict[str, tuple[Verdict, str]], file_count: int) -> Readiness:
    """Combine per-file verdicts into the model's readiness."""
    by_status: dict[str, list[tuple[str, Readiness]]] = {
        "passed": [],
        "failed": [],
        "unchecked": [],
    }
    report: dict[str, dict[str, Any]] = {}
    for label, (verdict, fmt) in outcomes.items():
        outcome = verdict.readiness
        by_status[verdict.status].append((label, outcome))
        report[label] = {"status": verdict.status, "format": fmt, **outcome.to_dict()}
    passed_, failed_, unchecked = by_status["passed"], by_status["failed"], by_status["unchecked"]
    details: dict[str, Any] = {
        "files": report,
        **{status: [label for label, _ in items] for status, items in by_status.items()},
    }
    ran = "+".join(sorted({outcome.checked for _, outcome in passed_ + failed_ if outcome.checked}))
    if failed_:
        reason = "; ".join(f"{label}: {outcome.reason}" for label, outcome in failed_)
        return failed(ran or None, reason, **details)
    if not passed_:
        if unchecked:
            reason = "no weights file passed a check; " + "; ".join(
                f"{label}: {outcome.reason}" for label, outcome in unchecked
            )
        else:
            reason = f"no weights file found among {file_count} file(s)"
        return failed(None, reason, **details)
    return passed(ran, **details)
