"""The verifier registry: the built-in checks and plugins, registered and looked up alike.

Shaped like the sources registry (:mod:`model_fetch.sources`, after fsspec's): a private dict
behind a read-only view, the built-in checks listed as lazy ``module:attr`` paths,
:func:`register_verifier` refusing silent overrides, and third-party verifiers from the
``model_fetch.verifiers`` entry-point group, read on the first lookup (never at import). An entry
is a verifier, a class or factory called with no arguments, or a dotted path to either; it is
built on first use and kept.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, TypeAlias

from model_fetch._log import get_logger
from model_fetch.exceptions import InvalidRequest
from model_fetch.install.checks._verifier import Verifier

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "VerifierEntry",
    "VerifierRegistry",
    "available_verifiers",
    "get_verifier",
    "register_verifier",
    "registry",
]

log = get_logger(__name__)

#: Entry-point group of third-party :class:`Verifier` plugins.
ENTRY_POINT_GROUP: Final = "model_fetch.verifiers"

#: A registration: a verifier, a class or factory called with no arguments, or a ``module:attr``
#: path to either.
VerifierEntry: TypeAlias = "Verifier | Callable[[], Verifier] | str"

_PACKAGE: Final = "model_fetch.install.checks"
#: The built-in checks, by name, as lazy dotted paths (in the order they run).
BUILTINS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "safetensors": f"{_PACKAGE}._safetensors:SafetensorsVerifier",
        "torch": f"{_PACKAGE}._torch:TorchVerifier",
        "gguf": f"{_PACKAGE}._gguf:GgufVerifier",
        "onnx": f"{_PACKAGE}._onnx:OnnxVerifier",
        "pickle": f"{_PACKAGE}._pickle_verifier:PickleVerifier",
        "unrecognised": f"{_PACKAGE}._builtin:UnrecognisedVerifier",
    }
)


class _NotAVerifier(TypeError):
    """What an entry built has no ``name`` and ``check()``."""


def _build(target: object) -> Verifier:
    """Turn a loaded entry into a verifier: call a class or factory, keep an instance."""
    if isinstance(target, type) or not hasattr(target, "check"):
        if not callable(target):
            raise TypeError(f"{target!r} is neither a verifier nor callable")
        target = target()
    if not isinstance(target, Verifier):
        raise _NotAVerifier(f"{target!r} has no name and check()")
    return target


def _describe(entry: VerifierEntry) -> str:
    return entry if isinstance(entry, str) else repr(entry)


class VerifierRegistry:
    """Verifiers by name: the built-in checks first, then plugins, then run-time registrations.

    The module-level functions (:func:`register_verifier`, :func:`get_verifier`,
    :func:`available_verifiers`) use the process-wide registry; build another one for an isolated
    set (``VerifierRegistry(group=None)`` reads no entry points).

    Args:
        builtins: Names and ``module:attr`` paths registered first (default :data:`BUILTINS`).
        group: The entry-point group read on the first lookup; None reads none.
    """

    def __init__(
        self,
        builtins: Mapping[str, str] = BUILTINS,
        *,
        group: str | None = ENTRY_POINT_GROUP,
    ) -> None:
        """Create an empty registry; built-ins and entry points are added on the first lookup."""
        self._builtins = dict(builtins)
        self._group = group
        self._entries: dict[str, VerifierEntry] = {}
        self._broken: set[str] = set()
        self._lock = threading.Lock()
        self._loaded = False
        #: A read-only view of what is registered: a verifier, a factory, or a dotted path.
        self.entries: Mapping[str, VerifierEntry] = MappingProxyType(self._entries)

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for name, path in self._builtins.items():
                self._entries.setdefault(name, path)
            if self._group is not None:
                from importlib.metadata import entry_points  # noqa: PLC0415 - first lookup only

                for entry_point in entry_points(group=self._group):
                    if entry_point.name in self._entries:
                        log.warning(
                            "Ignoring entry point %r from %s: a verifier of that name is already "
                            "registered",
                            entry_point.name,
                            entry_point.value,
                        )
                        continue
                    self._entries[entry_point.name] = entry_point.value
            self._loaded = True

    def register(self, name: str, verifier: VerifierEntry, clobber: bool = False) -> None:
        """Register a verifier under a name (see :func:`register_verifier`)."""
        if not name or not isinstance(name, str):
            raise InvalidRequest("A verifier name must be a non-empty string")
        self._ensure_loaded()
        with self._lock:
            if name in self._entries and not clobber:
                raise InvalidRequest(
                    f"A verifier named {name!r} is already registered; pass clobber=True to "
                    "replace it",
                )
            self._entries[name] = verifier
            self._broken.discard(name)

    def names(self) -> list[str]:
        """Return every registered name, in the order the verifiers run."""
        self._ensure_loaded()
        with self._lock:
            return list(self._entries)

    def _resolve(self, name: str, entry: VerifierEntry) -> Verifier:
        if isinstance(entry, str):
            group = self._group or ENTRY_POINT_GROUP
            target: object = EntryPoint(name=name, value=entry, group=group).load()
        else:
            target = entry
        verifier = _build(target)
        if verifier is not entry:
            with self._lock:
                if self._entries.get(name) is entry:
                    self._entries[name] = verifier
        return verifier

    def get(self, name: str) -> Verifier:
        """Return the verifier registered under ``name``, building it on first use.

        Raises:
            InvalidRequest: No verifier has that name, or it cannot be loaded.
        """
        self._ensure_loaded()
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(self.names())
            raise InvalidRequest(f"Unknown verifier {name!r}; registered verifiers: {known}")
        try:
            return self._resolve(name, entry)
        except Exception as exc:
            raise InvalidRequest(f"Verifier {name!r} cannot be loaded: {exc}") from exc

    def verifiers(self) -> list[Verifier]:
        """Return every verifier that loads, in order; one that does not is logged and skipped."""
        self._ensure_loaded()
        with self._lock:
            entries = [item for item in self._entries.items() if item[0] not in self._broken]
        loaded = (self._try_resolve(name, entry) for name, entry in entries)
        return [verifier for verifier in loaded if verifier is not None]

    def _try_resolve(self, name: str, entry: VerifierEntry) -> Verifier | None:
        """Build a verifier, or log why it cannot be and skip it from now on."""
        try:
            return self._resolve(name, entry)
        except _NotAVerifier:
            log.error(  # noqa: TRY400 - the plugin is at fault, not model_fetch: no traceback
                "The verifier plugin %r (%s) has no name and check(); it is skipped",
                name,
                _describe(entry),
            )
        except Exception:
            log.exception(
                "Cannot load the verifier plugin %r (%s); it is skipped", name, _describe(entry)
            )
        with self._lock:
            self._broken.add(name)
        return None


_default = VerifierRegistry()

#: A read-only view of the process-wide registry (filled on the first lookup).
registry: Mapping[str, VerifierEntry] = _default.entries


def register_verifier(name: str, verifier: VerifierEntry, clobber: bool = False) -> None:
    """Register a verifier under a name; every model check in this process then runs it.

    Args:
        name: The verifier's registered name (the built-in checks are ``safetensors``, ``torch``,
            ``gguf``, ``onnx``, ``pickle`` and ``unrecognised``).
        verifier: A verifier, a class or factory called with no arguments, or a ``module:attr``
            dotted path to either, imported on first use.
        clobber: Replace an existing registration (a built-in check too) instead of refusing it.

    Raises:
        InvalidRequest: The name is empty, or taken and ``clobber`` is false (a ``ValueError``).
    """
    _default.register(name, verifier, clobber=clobber)


def get_verifier(name: str) -> Verifier:
    """Return the verifier registered under ``name`` (built in, plugin or run-time).

    Raises:
        InvalidRequest: No verifier has that name, or it cannot be loaded.
    """
    return _default.get(name)


def available_verifiers() -> list[Verifier]:
    """Return every registered verifier: the built-in checks, then the plugins'.

    Entry points of the ``model_fetch.verifiers`` group are read on the first call; a plugin
    that fails to load is logged and skipped.

    Returns:
        A new list: the built-in checks (one per format, see
        :data:`~model_fetch.install.checks.BUILTIN_VERIFIERS`), then each verifier from an entry
        point, then those added with :func:`register_verifier`.
    """
    return _default.verifiers()
