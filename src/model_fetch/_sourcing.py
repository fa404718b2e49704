"""The sources one downloader uses: the injected ones, then the registry's, each built once."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from model_fetch.sources import Source, available_sources, get_source_class

if TYPE_CHECKING:
    from collections.abc import Mapping

    from model_fetch.sources import SourceContext, SourceFactory

__all__ = ["SourceSet"]


class SourceSet:
    """Source instances by name, built on first use with one :class:`SourceContext`.

    Args:
        context: The context every source is built with.
        given: Sources by name (instances, or classes and factories called with ``context``),
            used instead of the registry's for those names.
    """

    def __init__(
        self, context: SourceContext, given: Mapping[str, Source | SourceFactory] | None
    ) -> None:
        """Build the injected sources now; registered ones wait for their first use."""
        self.context = context
        self._lock = threading.Lock()
        self._sources: dict[str, Source] = {}
        for name, item in (given or {}).items():
            is_instance = isinstance(item, Source) and not isinstance(item, type)
            self._sources[name] = item if is_instance else item(context)  # type: ignore[operator,assignment]

    def get(self, name: str) -> Source:
        """The source for a name, built on first use.

        Raises:
            UnknownSource: No such source is registered.
        """
        with self._lock:
            found = self._sources.get(name)
        if found is not None:
            return found
        instance = get_source_class(name)(self.context)
        with self._lock:
            return self._sources.setdefault(name, instance)

    def names(self) -> list[str]:
        """Every name ``get`` accepts: registered sources (built-ins, plugins) and injected ones."""
        with self._lock:
            injected = set(self._sources)
        return sorted(injected.union(available_sources()))
