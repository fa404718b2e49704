"""The PyTorch check: a real ``torch.load(weights_only=True)``, in a sandboxed subprocess.

The file is loaded with ``torch.load(weights_only=True, map_location="cpu")`` (``mmap`` for zip
checkpoints) in a **subprocess** with a timeout and an address-space limit. It is never retried
with ``weights_only=False``. When the allowlisting unpickler refuses the file, the globals it
needs are named (``get_unsafe_globals_in_checkpoint`` or a static opcode scan); the code they
would run never runs. torch older than 2.6 is refused (CVE-2025-32434).

Loading TorchScript runs the archive's code, so it is loaded (``torch.jit.load``, in the same
sandboxed subprocess, ``checked="torch.jit"``) only with ``allow_torchscript=True``. The torch
files of one model share one subprocess.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from model_fetch._log import get_logger
from model_fetch.install._torch_probe import MIN_TORCH, version_tuple
from model_fetch.install.checks._accept import accepted
from model_fetch.install.checks._detect import TORCH_FORMATS, detect_file
from model_fetch.install.checks._readiness import Readiness, failed, passed
from model_fetch.install.checks._sandbox import (
    MEMORY_FACTOR,
    MEMORY_HEADROOM,
    MIB,
    memory_limit_for,
    run_probe,
)
from model_fetch.install.checks._verifier import (
    DEFAULT_TORCH_TIMEOUT,
    CheckOptions,
    FormatVerifier,
)
from model_fetch.install.checks._zipcrc import ZIP_CHECK, zip_damage

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from model_fetch.install.checks._detect import ModelFile

__all__ = [
    "MEMORY_FACTOR",
    "MEMORY_HEADROOM",
    "TorchVerifier",
    "check_torch",
    "installed_torch_version",
    "memory_limit_for",
]

log = get_logger(__name__)

_TORCH_HINT: Final = "torch is not installed (pip install 'model_fetch[torch]')"
_TORCHSCRIPT_REFUSED: Final = (
    "TorchScript runs code when loaded; not loaded (opt in with allow_torchscript=True "
    "if you trust the file)"
)


def installed_torch_version() -> str | None:
    """The installed torch's version: None when not installed, ``""`` when it cannot be told.

    Found without importing torch (which takes seconds).
    """
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def torch_loads_files() -> bool:
    """Whether the torch check can load files here: torch is installed and new enough."""
    return _torch_unavailable(installed_torch_version()) is None


def _torch_unavailable(version: str | None) -> Readiness | None:
    """A not-ready result when torch is missing (None) or too old, else None."""
    if version is None:
        return failed(None, _TORCH_HINT)
    if version and version_tuple(version) < MIN_TORCH:
        return _old_torch(version)
    return None


def _old_torch(version: str) -> Readiness:
    minimum = ".".join(map(str, MIN_TORCH))
    return failed(
        None,
        f"torch {version} is too old to load untrusted files: weights_only=True can be bypassed "
        f"before {minimum} (CVE-2025-32434); pip install 'torch>={minimum}'",
        torch_version=version,
    )


def _probe_script() -> Path:
    return Path(__file__).parent.parent / "_torch_probe.py"


def _loaded(record: dict[str, Any], *, checked: str, fmt: str, facts: dict[str, Any]) -> Readiness:
    if not record.get("tensors"):
        loader = "torch.jit.load" if fmt == "torchscript" else "torch.load"
        return failed(checked, f"{loader} found no tensors in it: it holds no weights", **facts)
    return passed(
        checked,
        tensors=record.get("tensors", 0),
        parameters=record.get("parameters", 0),
        mmap=record.get("mmap", False),
        **facts,
    )


def _from_record(record: dict[str, Any], *, fmt: str, limit: int) -> Readiness:
    checked = "torch.jit" if fmt == "torchscript" else "torch.weights_only"
    outcome = record.get("outcome")
    error = str(record.get("error", ""))
    facts = {"format": fmt, "torch_version": record.get("torch_version")}
    if record.get("ok"):
        return _loaded(record, checked=checked, fmt=fmt, facts=facts)
    if outcome == "unsafe-globals":
        names = [str(name) for name in record.get("globals", [])]
        needs = (
            f"it needs the globals {', '.join(names)}, which weights_only does not allow"
            if names
            else error or "it holds objects weights_only does not allow"
        )
        return failed(
            checked,
            f"torch.load(weights_only=True) refused it: {needs}; nothing in it was run, and it "
            "is never retried with weights_only=False",
            unsafe_globals=names,
            **facts,
        )
    if outcome == "memory":
        return failed(
            checked,
            f"the load check ran out of memory under its {limit // MIB} MiB address-space "
            f"limit: {error}",
            memory_limit=limit,
            **facts,
        )
    if outcome == "no-torch":
        return failed(None, f"{_TORCH_HINT}: {error}" if error else _TORCH_HINT)
    if outcome == "old-torch":
        return _old_torch(str(record.get("version", "?")))
    loader = "torch.jit.load" if fmt == "torchscript" else "torch.load(weights_only=True)"
    return failed(checked, f"{loader} failed: {error}", **facts)


def _run_probe(
    jobs: Sequence[tuple[Path, str]],
    *,
    timeout: float,
    memory_limit: int | None,
) -> list[Readiness]:
    """Load ``(path, format)`` jobs in one subprocess; return one result per job, in order."""
    paths = [path.resolve() for path, _fmt in jobs]
    arguments: list[str] = []
    for path, (_orig, fmt) in zip(paths, jobs, strict=True):
        arguments += ["--jit", str(path)] if fmt == "torchscript" else [str(path)]
    run = run_probe(_probe_script(), arguments, paths, timeout=timeout, memory_limit=memory_limit)
    results: list[Readiness] = []
    for path, (_orig, fmt) in zip(paths, jobs, strict=True):
        record = run.records.get(str(path))
        if record is not None:
            results.append(_from_record(record, fmt=fmt, limit=run.limit))
            continue
        checked = "torch.jit" if fmt == "torchscript" else "torch.weights_only"
        results.append(failed(checked, run.missing_reason(), format=fmt, memory_limit=run.limit))
    return results


@attrs.frozen(kw_only=True)
class TorchVerifier(FormatVerifier):
    """The built-in PyTorch check (:func:`check_torch`) as a verifier.

    The torch files of one model are loaded in one subprocess (the timeout applies per file).

    Attributes:
        torch_version: Tells the installed torch's version (None when not installed); injectable
            so a test can stand in a missing or old torch.
    """

    name: ClassVar[str] = "torch"
    formats: ClassVar[frozenset[str]] = TORCH_FORMATS
    torch_version: Callable[[], str | None] = attrs.field(
        default=installed_torch_version, repr=False
    )

    def judge(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        """Load each file in the subprocess, except TorchScript without the opt-in."""
        loaded = iter(self._load([file for file in files if not _refused(file, options)], options))
        return [
            _refusal(file, options) if _refused(file, options) else next(loaded) for file in files
        ]

    def _load(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        damaged = [zip_damage(file.path) if file.format == "torch-zip" else None for file in files]
        sound = [file for file, damage in zip(files, damaged, strict=True) if damage is None]
        loaded = iter(self._load_sound(sound, options))
        return [
            next(loaded)
            if damage is None
            else failed(ZIP_CHECK, f"the zip is damaged: {damage}", format=file.format)
            for file, damage in zip(files, damaged, strict=True)
        ]

    def _load_sound(self, files: Sequence[ModelFile], options: CheckOptions) -> list[Readiness]:
        if not files:
            return []
        unavailable = _torch_unavailable(self.torch_version())
        if unavailable is not None:
            return [unavailable] * len(files)
        return _run_probe(
            [(file.path, file.format) for file in files],
            timeout=options.timeout,
            memory_limit=options.memory_limit,
        )


def _refused(file: ModelFile, options: CheckOptions) -> bool:
    if accepted(file.path, options.accept):
        return True
    return file.format == "torchscript" and not options.allow_torchscript


def _refusal(file: ModelFile, options: CheckOptions) -> Readiness:
    if accepted(file.path, options.accept):
        return failed(None, "accepted by name: not loaded", format=file.format)
    return failed(None, _TORCHSCRIPT_REFUSED, format=file.format)


def check_torch(
    path: Path,
    *,
    timeout: float = DEFAULT_TORCH_TIMEOUT,
    allow_torchscript: bool = False,
    memory_limit: int | None = None,
) -> Readiness:
    """Really load a PyTorch file, safely, in a subprocess.

    The subprocess runs ``torch.load(path, weights_only=True, map_location="cpu", mmap=...)``
    (``mmap`` only for zip checkpoints), or ``torch.jit.load`` for TorchScript when
    ``allow_torchscript`` is true. It is killed after ``timeout`` seconds (which include starting
    Python and importing torch, about 2 s) and its address space is capped at ``memory_limit``
    (default :func:`memory_limit_for` the file's size). The probe sets ``RLIMIT_AS`` on itself as
    its first action, before importing torch or opening the file, rather than in a
    ``preexec_fn``, which can deadlock a program that runs threads. ``weights_only=False`` is
    never used.

    Args:
        path: A ``torch.save`` file (zip or legacy pickle), or a TorchScript archive.
        timeout: Seconds the load may take.
        allow_torchscript: Load TorchScript archives too (this runs the code they contain).
        memory_limit: The subprocess's address-space limit in bytes.

    Returns:
        ``ready=True`` with ``checked="torch.weights_only"`` (or ``torch.jit``) and the tensor
        count in ``details``; otherwise ``ready=False`` with the reason, and the unsafe globals in
        ``details["unsafe_globals"]`` when that is why.
    """
    file = detect_file(path)
    if file.error is not None:
        return failed(None, f"cannot read the file: {file.error}")
    if file.format not in TORCH_FORMATS:
        return failed(
            None, f"not a PyTorch file (its content is {file.format})", format=file.format
        )
    options = CheckOptions(
        timeout=timeout, allow_torchscript=allow_torchscript, memory_limit=memory_limit
    )
    return TorchVerifier().judge([file], options)[0]
