"""Sources: plugins that turn a download request into a plan of files to fetch.

A source is any class built as ``cls(context)`` that has a ``plan(request) -> Plan`` method. It
never writes to the store; the pipeline does. Built-in sources are registered as lazy dotted paths,
third-party sources arrive through the entry-point group ``model_fetch.sources`` (read on the first
lookup, never at import), and :func:`register_source` adds one at run time.
"""

from __future__ import annotations

import importlib
import threading
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from model_fetch._log import get_logger
from model_fetch.exceptions import InvalidRequest, UnknownSource

if TYPE_CHECKING:
    from collections.abc import Mapping

    from model_fetch._clock import Clock
    from model_fetch._config import Settings
    from model_fetch._models import DownloadRequest, Plan
    from model_fetch.transfer import HttpClient

__all__ = [
    "ENTRY_POINT_GROUP",
    "Source",
    "SourceContext",
    "SourceFactory",
    "available_sources",
    "get_source_class",
    "register_source",
    "registry",
]

log = get_logger(__name__)

ENTRY_POINT_GROUP = "model_fetch.sources"


@attrs.frozen(kw_only=True)
class SourceContext:
    """What a source may use: the settings and the shared HTTP client.

    Attributes:
        settings: The downloader's settings.
        http: The shared urllib3-based client (proxies, CA bundle, netrc, safe redirects).
        cache_dir: A local directory where the source may cache metadata (indexes, listings).
        clock: The downloader's clock.
    """

    settings: Settings
    http: HttpClient
    cache_dir: str
    clock: Clock


@runtime_checkable
class Source(Protocol):
    """Turns a request into a :class:`~model_fetch.Plan`. Built as ``cls(context)``."""

    def plan(self, request: DownloadRequest) -> Plan:
        """Resolve the request into the files to fetch and the resolved version.

        Raises:
            ModelNotFound: The source has no such model or version.
            InvalidRequest: The request makes no sense for this source.
        """
        ...


class SourceFactory(Protocol):
    """A source class (or any callable) building a source from its context."""

    def __call__(self, context: SourceContext) -> Source:
        """Build the source."""
        ...


# name -> dotted path, with an install hint for the ones that need an extra.
_BUILTINS: dict[str, tuple[str, str | None]] = {
    "default": ("model_fetch.sources.default:RepositorySource", None),
    "huggingface": ("model_fetch.sources.huggingface:HuggingFaceSource", "model_fetch[hf]"),
    "local": ("model_fetch.sources.local:LocalRegistrySource", None),
    "url": ("model_fetch.sources.url:UrlSource", None),
}

_registry: dict[str, SourceFactory | str] = {}
_lock = threading.Lock()
_entry_points_loaded = False

#: A read-only view of what is registered: a class, or a lazy dotted path.
registry: Mapping[str, SourceFactory | str] = MappingProxyType(_registry)


def _ensure_loaded() -> None:
    global _entry_points_loaded  # noqa: PLW0603 - the registry is process-wide by design
    with _lock:
        if _entry_points_loaded:
            return
        from importlib.metadata import entry_points  # noqa: PLC0415 - costly; first lookup only

        for name, (path, _hint) in _BUILTINS.items():
            _registry.setdefault(name, path)
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name in _registry:
                log.warning(
                    "Ignoring entry point %r from %s: a source of that name is already registered",
                    entry_point.name,
                    entry_point.value,
                )
                continue
            _registry[entry_point.name] = entry_point.value
        _entry_points_loaded = True


def register_source(name: str, cls: SourceFactory | str, clobber: bool = False) -> None:
    """Register a source under a name.

    Args:
        name: The name requests use in ``source``.
        cls: The source class (built as ``cls(context)``), or a ``module:attr`` dotted path that is
            imported on first use.
        clobber: Replace an existing registration instead of refusing it.

    Raises:
        ValueError: The name is taken and ``clobber`` is false.
    """
    if not name or not isinstance(name, str):
        raise InvalidRequest("A source name must be a non-empty string")
    _ensure_loaded()
    with _lock:
        if name in _registry and not clobber:
            raise InvalidRequest(
                f"A source named {name!r} is already registered; pass clobber=True to replace it",
            )
        _registry[name] = cls


def available_sources() -> list[str]:
    """Return the names of every registered source (built-ins and plugins), sorted."""
    _ensure_loaded()
    return sorted(_registry)


def _import(path: str) -> SourceFactory:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    target: SourceFactory = module
    for part in attr.split(".") if attr else []:
        target = getattr(target, part)
    return target


def get_source_class(name: str) -> SourceFactory:
    """Return the source class registered under ``name``, importing it on first use.

    Raises:
        UnknownSource: No source has that name; the message lists the available ones.
        InvalidRequest: The source needs an extra that is not installed.
    """
    with _lock:
        # A built-in needs no entry-point scan (no plugin may take its name): a cache hit,
        # which only checks that its source exists, never reads the installed distributions.
        builtin = not _entry_points_loaded and name in _BUILTINS
        if builtin:
            _registry.setdefault(name, _BUILTINS[name][0])
    if not builtin:
        _ensure_loaded()
    with _lock:
        entry = _registry.get(name)
    if entry is None:
        available = available_sources()
        raise UnknownSource(
            f"Unknown source {name!r}; available sources: {', '.join(available)}",
            source=name,
            available=available,
        )
    if not isinstance(entry, str):
        return entry
    try:
        factory = _import(entry)
    except ImportError as exc:
        hint = _BUILTINS.get(name, (None, None))[1]
        extra = f" (install it with: pip install {hint})" if hint else ""
        raise InvalidRequest(f"Source {name!r} cannot be loaded: {exc}{extra}") from exc
    with _lock:
        if _registry.get(name) == entry:
            _registry[name] = factory
    return factory
