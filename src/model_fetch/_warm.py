"""Load what the install step will need while the bytes of a download arrive.

A fresh process (the ``model-fetch`` command, a batch job) imports the install step only once its
last byte has arrived: the checks, extraction and signing modules, and for a safetensors file
the safetensors library with numpy, which ``safetensors.safe_open`` imports. Those imports cost
0.2-0.5 s of CPU on a 2-core machine, paid after the transfer and before the install record.
Started on a daemon thread when the transfer starts, they run while the transfer threads wait in
``recv``, ``pwrite`` and the hash (which release the GIL), so the install step finds them loaded.

A module that fails to import here is left alone: the install step imports it again and reports
the failure where it belongs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["warm_install_imports"]

#: What every install step imports (see ``_pipeline._checked_install`` and ``_provenance``).
_INSTALL: Final = ("model_fetch.install", "model_fetch.install.signing")
#: The in-process library checks (``install.checks._library.IN_PROCESS``), by file suffix.
_BY_SUFFIX: Final = {".safetensors": ("safetensors", "numpy")}


def _wanted(paths: Iterable[str]) -> list[str]:
    names = list(_INSTALL)
    for suffix, modules in _BY_SUFFIX.items():
        if any(path.endswith(suffix) for path in paths) and _installed(modules[0]):
            names += modules
    return [name for name in names if name not in sys.modules]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - the install step imports it again and reports it
            continue


def warm_install_imports(paths: Iterable[str]) -> threading.Thread | None:
    """Import, on a daemon thread, the modules the install of these files will need.

    Args:
        paths: The paths of the files about to be fetched.

    Returns:
        The thread, or None when everything is loaded already (a long-lived process).
    """
    names = _wanted(paths)
    if not names:
        return None
    thread = threading.Thread(target=_load, args=(names,), name="model_fetch-warm", daemon=True)
    thread.start()
    return thread
