"""Remembered refs: the version a ref ("latest", a branch) last resolved to, for offline use."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from typing import TYPE_CHECKING

from model_fetch._models import iso_timestamp
from model_fetch.storage._hflayout import HfLayout

if TYPE_CHECKING:
    from model_fetch.storage._backend import Backend

__all__ = ["Refs"]


class Refs:
    """The refs of every model in one store (``models/<name>/.refs/<ref>.json``).

    Args:
        backend: The store's backend.
    """

    def __init__(self, backend: Backend) -> None:
        """Nothing is read yet."""
        self._backend = backend

    def write(self, name: str, ref: str, version: str, *, scratch: str | None = None) -> None:
        """Remember that ``ref`` resolved to ``version`` (``scratch``: see ``write_small``)."""
        path = self._backend.layout.alias_path(name, ref)
        if isinstance(self._backend.layout, HfLayout):
            # huggingface_hub's format: the commit alone, no newline.
            self._backend.write_small(path, version.encode(), scratch=scratch)
            return
        document = json.dumps(
            {"ref": ref, "version": version, "resolved_at": iso_timestamp(dt.datetime.now(dt.UTC))},
        ).encode()
        self._backend.write_small(path, document, scratch=scratch)

    def read(self, name: str, ref: str) -> str | None:
        """Return the version ``ref`` last resolved to, or None."""
        if isinstance(self._backend.layout, HfLayout):
            try:
                with open(self._backend.layout.alias_path(name, ref), encoding="utf-8") as handle:
                    return handle.read().strip() or None
            except (OSError, ValueError):
                return None
        try:
            path = self._backend.layout.alias_path(name, ref)
            version = json.loads(self._backend.read_small(path))["version"]
        except (FileNotFoundError, KeyError, TypeError, ValueError, OSError):
            return None
        return version if isinstance(version, str) else None

    def of(self, name: str) -> dict[str, str]:
        """Every ref of a model with the version it last resolved to."""
        if isinstance(self._backend.layout, HfLayout):
            return _hf_refs(self._backend.layout.refs_dir(name))
        fs = self._backend.fs
        try:
            entries = fs.ls(self._backend.layout.refs_dir(name), detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found: dict[str, str] = {}
        for entry in entries:
            try:
                with fs.open(entry, "rb") as handle:
                    data = json.loads(handle.read())
                found[str(data["ref"])] = str(data["version"])
            except (KeyError, TypeError, ValueError, OSError):
                continue
        return found

    def drop(self, name: str, version: str) -> None:
        """Forget every ref of a model that resolved to ``version``."""
        for ref, target in self.of(name).items():
            if target == version:
                with contextlib.suppress(OSError):
                    self._backend.fs.rm_file(self._backend.layout.alias_path(name, ref))


def _hf_refs(refs_dir: str) -> dict[str, str]:
    """huggingface_hub's refs folder: one file per ref (``main``, ``refs/pr/1``)."""
    found: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(refs_dir):
        for file in files:
            path = os.path.join(dirpath, file)
            with contextlib.suppress(OSError, ValueError), open(path, encoding="utf-8") as handle:
                found[os.path.relpath(path, refs_dir).replace(os.sep, "/")] = handle.read().strip()
    return found
