"""The built-in pickle verifier: every file of a model, searched for code that loading would run.

See :mod:`._pickles` for what is searched and how. Files the torch check loads itself (weights
files of a torch format, where torch is installed and new enough) are left to it: its verdict is
torch's own. Every other file, trainer state included, fails when a pickle in it needs a global
outside the weights-only allow-list,
unless the user accepted it by name (:attr:`CheckOptions.accept`). Where torch is missing or too
old to load files, the torch files are scanned too, so a missing torch extra never leaves a
code-running pickle merely "unchecked" beside weights that pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

import attrs

from model_fetch.install.checks._accept import accepted
from model_fetch.install.checks._detect import TORCH_FORMATS, detect_file, is_weights
from model_fetch.install.checks._pickles import allowed, pickle_globals
from model_fetch.install.checks._readiness import Readiness, failed
from model_fetch.install.checks._torch import torch_loads_files
from model_fetch.install.checks._verifier import CheckOptions, Verdict

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from model_fetch.install.checks._detect import ModelFile

__all__ = ["PICKLE_CHECK", "PickleVerifier"]

#: The ``checked`` name of the pickle scan.
PICKLE_CHECK: Final = "pickle.scan"
_HEAD: Final = 64


def _scan(file: ModelFile) -> Readiness | None:
    try:
        with file.path.open("rb") as stream:
            head = stream.read(_HEAD)
        found = pickle_globals(file.path, head)
    except OSError as exc:
        return failed(PICKLE_CHECK, f"cannot read the file: {exc}")
    except (ValueError, EOFError, IndexError, UnicodeDecodeError, OverflowError) as exc:
        if file.format in TORCH_FORMATS:
            return failed(PICKLE_CHECK, f"its pickle is malformed ({exc}); nothing in it was run")
        return None  # not a pickle after all
    if found is None:
        return None
    unsafe = [name for name in found if not allowed(name)]
    if not unsafe:
        return None
    return failed(
        PICKLE_CHECK,
        f"it is a pickle that would run code when loaded: it needs {', '.join(unsafe)}, outside "
        "the weights-only allow-list; nothing in it was run (accept the file by name if you "
        "trust it)",
        unsafe_globals=unsafe,
    )


@attrs.frozen(kw_only=True)
class PickleVerifier:
    """Every file not loaded by the torch check, searched for pickles that would run code.

    Attributes:
        torch_loads: Tells whether the torch check can load files here (torch installed and
            new enough); injectable so a test can stand in a missing torch.
    """

    name: ClassVar[str] = "pickle"
    torch_loads: Callable[[], bool] = attrs.field(default=torch_loads_files, repr=False)

    def applies(
        self, file: ModelFile, options: CheckOptions, *, torch_loads: bool | None = None
    ) -> bool:
        """Tell whether to scan a file: not one the torch check loads, not accepted by name.

        Args:
            file: The file, with its detected format.
            options: The check's settings (files accepted by name).
            torch_loads: Whether the torch check can load files here (asked when None).
        """
        if file.error is not None or accepted(file.path, options.accept):
            return False
        if not (file.format in TORCH_FORMATS and is_weights(file)):
            return True
        return not (self.torch_loads() if torch_loads is None else torch_loads)

    def check_files(
        self, files: Sequence[ModelFile], options: CheckOptions
    ) -> list[Verdict | None]:
        """Fail each scanned file that holds a code-running pickle; None for the others."""
        verdicts: list[Verdict | None] = []
        torch_loads = self.torch_loads()
        for file in files:
            scan = self.applies(file, options, torch_loads=torch_loads)
            outcome = _scan(file) if scan else None
            verdicts.append(
                None if outcome is None else Verdict(status="failed", readiness=outcome)
            )
        return verdicts

    def check(self, path: Path) -> Readiness | None:
        """Scan one file (default options): a failure, or None when nothing would run."""
        verdict = self.check_files([detect_file(path)], CheckOptions())[0]
        return None if verdict is None else verdict.readiness
