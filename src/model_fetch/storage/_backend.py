"""The one protocol a store backend implements: what differs between a local disk and the rest.

Two backends exist: :class:`~model_fetch.storage._local.LocalBackend` (a local directory: rename
is the commit, lock files, the access marker) and
:class:`~model_fetch.storage._object.ObjectBackend` (any other fsspec filesystem, object stores
first: upload, then the record written last with a conditional write; leases). Everything that is
the same on both (reading records, the refs, the space figures) lives once in the
:class:`~model_fetch.storage.Store` and its helpers, on top of ``fs`` and the :class:`Layout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from model_fetch.storage._layout import Layout
    from model_fetch.storage._locks import StoreLock
    from model_fetch.storage._record import InstallRecord

__all__ = ["Backend"]


class Backend(Protocol):
    """Where a store keeps its files, and how it commits, locks and cleans up there.

    Attributes:
        layout: The store's paths.
        url: The store's root as users see it (a local path, or a URL).
        local: Whether it is a local directory (then a download has no upload stage).
    """

    layout: Layout
    url: str
    local: bool

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (a local backend imports fsspec only when this is first read)."""
        ...

    @property
    def object_store(self) -> bool:
        """Whether the filesystem has buckets (s3://, gs://, ...)."""
        ...

    def display(self, path: str) -> str:
        """A path as users see it: local paths as they are, others as URLs."""
        ...

    def meta_dir(self, kind: str) -> str:
        """The store's local directory of one kind (``.staging``, ``.partials``, ``.locks``)."""
        ...

    def disk(self) -> str:
        """The local path whose disk fills up as downloads are written."""
        ...

    def ensure_available(self) -> None:
        """Check once that the store can be read (raises StoreUnavailable)."""
        ...

    def supports_conditional_writes(self) -> bool:
        """Whether the filesystem does conditional create and replace (probed once)."""
        ...

    def size(self, path: str) -> int:
        """The size of one stored file (raises OSError when it is missing)."""
        ...

    def accessed_at(self, marker: str) -> float | None:
        """When a version's access marker was last touched (a timestamp), or None."""
        ...

    def touch(self, marker: str) -> None:
        """Touch a version's access marker (where markers are kept)."""
        ...

    def read_small(self, path: str) -> bytes:
        """Read a small file whole (raises FileNotFoundError when it is missing)."""
        ...

    def write_small(self, path: str, data: bytes, *, scratch: str | None = None) -> None:
        """Write a small file whole (readers see the old bytes or the new ones).

        ``scratch``, a directory on the same disk, holds the temporary name where one is needed
        (local stores); without one, it is made beside the target.
        """
        ...

    def rm_tree(self, path: str) -> None:
        """Delete a directory and everything under it."""
        ...

    def commit(
        self,
        staging: str,
        record: InstallRecord,
        document: bytes,
        *,
        on_upload: Callable[[int], None],
        guard: Callable[[], None],
        cancel: threading.Event | None,
        keep_staging: bool,
    ) -> None:
        """Put a staging directory's files under the record's generation, then the record.

        ``document`` is the record's encoded bytes; ``guard`` is called right before it is
        written and raises to stop the commit.

        The record is the commit: until it is written, readers see the previous install.
        Replaced generations are removed afterwards (at once, or once readers are done).
        """
        ...

    def lock(self, name: str, version: str) -> StoreLock:
        """The (name, version) lock; not yet acquired."""
        ...

    def prune(self, older_than: float | None) -> dict[str, int]:
        """Clear what crashed holders left behind (expired leases, orphans, uploads)."""
        ...

    def close(self) -> None:
        """Stop background work (deferred deletions)."""
        ...
