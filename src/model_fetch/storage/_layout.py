"""Where everything lives in a store: pure path arithmetic, no I/O.

Layout under the root (a local path or any fsspec URL)::

    models/<name>/<version>/install.json     the install record, written last: the commit marker
    models/<name>/<version>/g-<id>/...       the files of one generation
    models/<name>/<version>/accessed         touched when an installed copy is reused
    models/<name>/<version>/.retired/g-<id>  a replaced generation, kept one lease time for readers
    models/<name>/.refs/<ref>.json           the version a ref ("latest", a branch) resolved to
    .leases/<hash>.json                      one lease per (name, version) (object stores)

and in the store's local directory (the root itself for local stores, a directory per store under
``MODEL_FETCH_STAGING`` or the user cache for the others)::

    .staging/<id>/                           downloads in progress
    .partials/<hash>.part (and .json)        resumable partial downloads
    .locks/<hash>.lock                       one lock file per (name, version)
    .cache/                                  caches that belong to the store (repository indexes)

``<name>`` and ``<version>`` are escaped into one path segment each (see
:func:`~model_fetch._paths.escape_segment`), so the layout is injective and never leaves the root.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from typing import Final

import attrs

from model_fetch._paths import escape_segment

__all__ = [
    "ACCESSED_NAME",
    "GENERATION_PREFIX",
    "LEASES_DIR",
    "PENDING_GENERATION",
    "RECORD_NAME",
    "REFS_DIR",
    "Layout",
    "is_generation",
    "lock_key",
    "new_generation",
    "partial_key",
    "store_key",
]

RECORD_NAME: Final = "install.json"
ACCESSED_NAME: Final = "accessed"
# ".refs" and ".leases" cannot clash with an escaped segment: those never start with ".".
REFS_DIR: Final = ".refs"
LEASES_DIR: Final = ".leases"
GENERATION_PREFIX: Final = "g-"
#: The generation of a record that is not committed yet (the commit picks a fresh one).
PENDING_GENERATION: Final = GENERATION_PREFIX + "pending"
_GENERATION: Final = re.compile(r"g-[0-9a-f]{16}")


def new_generation() -> str:
    """A fresh generation directory name (``g-`` and 16 hex digits)."""
    return GENERATION_PREFIX + uuid.uuid4().hex[:16]


def is_generation(segment: str) -> bool:
    """Whether one path segment names a committed generation directory."""
    return _GENERATION.fullmatch(segment) is not None


def lock_key(name: str, version: str) -> str:
    """The stable name of the lock (file or lease) of one (name, version)."""
    return hashlib.sha256(f"{name}\x00{version}".encode()).hexdigest()[:32]


def partial_key(name: str, version: str, rel: str, url: str) -> str:
    """The stable name of one file's partial download (the URL's query string left out)."""
    clean_url = url.split("?", 1)[0]
    return hashlib.sha256(f"{name}\x00{version}\x00{rel}\x00{clean_url}".encode()).hexdigest()[:40]


def store_key(url: str) -> str:
    """The name of a non-local store's own local directory (one per store URL)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@attrs.frozen
class Layout:
    """The paths of one store.

    Attributes:
        root: The store's root: an absolute local path, or a path on its fsspec filesystem
            (without the protocol and without a trailing ``/``).
        local: Join with the operating system's separator (local disks) instead of ``/``.
    """

    root: str
    local: bool

    def join(self, *parts: str) -> str:
        """The root joined with path segments."""
        return os.path.join(self.root, *parts) if self.local else "/".join((self.root, *parts))

    def join_rel(self, base: str, rel: str) -> str:
        """A directory joined with a relative POSIX path (``a/b.bin``)."""
        return os.path.join(base, *rel.split("/")) if self.local else f"{base}/{rel}"

    @property
    def models_dir(self) -> str:
        """The directory of every installed model."""
        return self.join("models")

    @property
    def leases_dir(self) -> str:
        """The directory of the lease objects."""
        return self.join(LEASES_DIR)

    def name_dir(self, name: str) -> str:
        """The directory of every version of one model."""
        return self.join("models", escape_segment(name))

    def version_dir(self, name: str, version: str) -> str:
        """The directory of one (name, version)."""
        return self.join("models", escape_segment(name), escape_segment(version))

    def record_path(self, name: str, version: str) -> str:
        """The install record of one (name, version)."""
        return self.join("models", escape_segment(name), escape_segment(version), RECORD_NAME)

    def generation_dir(self, name: str, version: str, generation: str) -> str:
        """The directory holding one generation's files."""
        return self.join("models", escape_segment(name), escape_segment(version), generation)

    def accessed_path(self, name: str, version: str) -> str:
        """The marker touched when an installed copy is reused."""
        return self.join_rel(self.version_dir(name, version), ACCESSED_NAME)

    def refs_dir(self, name: str) -> str:
        """The directory of a model's remembered refs."""
        return self.join("models", escape_segment(name), REFS_DIR)

    def alias_path(self, name: str, ref: str) -> str:
        """The file remembering the version one ref resolved to."""
        return self.join("models", escape_segment(name), REFS_DIR, escape_segment(ref) + ".json")

    def lease_path(self, file: str) -> str:
        """One lease object."""
        return self.join(LEASES_DIR, file)
