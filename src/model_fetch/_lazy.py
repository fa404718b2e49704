"""Lazy exports for a package's ``__init__`` (PEP 562): each name's module loads on first use.

A package that re-exports names from heavy modules (the install checks, the signing rules)
binds ``__getattr__, __dir__ = lazy_exports(__name__, {...})`` instead of importing them, so
importing one of its submodules, or the package itself, costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


class _Package(types.ModuleType):
    """A package whose exported names outrank its submodules of the same name.

    The import system binds a submodule as an attribute of its package once it has loaded it
    (``model_fetch.install.extract``, the subpackage); where the package exports a name of that
    spelling (``extract``, the function), the export stays what the attribute means, as it did
    when the package imported its names eagerly.
    """

    def __setattr__(self, name: str, value: object) -> None:
        exported = vars(self).get("__lazy_exports__", {})
        if name in exported and getattr(value, "__name__", None) == f"{self.__name__}.{name}":
            return
        super().__setattr__(name, value)


def lazy_exports(
    package: str, modules: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names load on first use.

    Args:
        package: The package's ``__name__``.
        modules: Each exported name, and the module (absolute, or relative to ``package`` when
            it starts with a dot) that defines it.

    Returns:
        The package's module ``__getattr__`` (imports the name's module, caches the value in
        the package) and ``__dir__`` (the names loaded so far and those still to load).
    """

    def __getattr__(name: str) -> object:  # noqa: N807 - the module hook of PEP 562
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook of PEP 562
        return sorted({*vars(sys.modules[package]), *modules})

    module = sys.modules[package]
    module.__lazy_exports__ = modules  # type: ignore[attr-defined]
    module.__class__ = _Package
    return __getattr__, __dir__
