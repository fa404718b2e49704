"""The (name, version) lock of a store: one protocol, a lock file and a lease behind it.

A download, a removal and a mirror publication each hold the lock of the version they change.
:meth:`Store.lock <model_fetch.storage.Store.lock>` returns a :class:`StoreLock`: a
:class:`LocalLock` (a lock file on this machine) on local stores and on filesystems without
conditional writes, a :class:`~model_fetch.storage.Lease` on object stores that have them. Callers
use the protocol and never ask which one they hold.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Protocol

from model_fetch._cancel import check_cancelled
from model_fetch.exceptions import DownloadFailed

if TYPE_CHECKING:
    import threading
    from types import TracebackType
    from typing import Self

__all__ = ["LocalLock", "StoreLock", "local_lock"]

#: How long one wait on a lock file lasts before cancellation and the deadline are checked again.
_POLL = 0.25


class StoreLock(Protocol):
    """A cross-process lock on one (name, version) of a store; not held until acquired."""

    def acquire(self, *, timeout: float, cancel: threading.Event | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds.

        Args:
            timeout: Seconds to wait in all.
            cancel: Stops the wait with DownloadCancelled.

        Returns:
            True (the lock is held).

        Raises:
            DownloadFailed: The wait for a lock file timed out.
            StoreUnavailable: The wait for a lease timed out.
        """
        ...

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits. Tell whether it was taken."""
        ...

    def release(self) -> None:
        """Let the lock go."""
        ...

    def check(self) -> None:
        """Called right before a commit: raise if the lock is no longer ours.

        Raises:
            LeaseLost: A lease was taken over by another node (a lock file cannot be lost).
        """
        ...

    def __enter__(self) -> Self:
        """Take the lock, waiting as long as it takes."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lock."""
        ...


class LocalLock:
    """A lock file: excludes the other processes and threads of this machine.

    Args:
        path: The lock file (its directory must exist).
        what: What it protects, for messages (``'name' version 'v1'``).
    """

    def __init__(self, path: str, *, what: str) -> None:
        """Name the lock file; nothing is locked yet."""
        import filelock  # noqa: PLC0415 - only a download needs it; keeps import light

        self.path = path
        self.what = what
        self._lock = filelock.FileLock(path, thread_local=False)

    def acquire(self, *, timeout: float, cancel: threading.Event | None = None) -> bool:
        """Take the lock, in short waits so a cancellation is seen within a fraction of a second.

        The wait is in real time whatever clock a caller injects: filelock sleeps for real.

        Raises:
            DownloadFailed: Another holder kept it for ``timeout`` seconds.
        """
        import filelock  # noqa: PLC0415 - keeps `import model_fetch` light

        deadline = time.monotonic() + timeout
        while True:
            check_cancelled(cancel)
            remaining = deadline - time.monotonic()
            try:
                self._lock.acquire(timeout=max(0.0, min(_POLL, remaining)))
            except filelock.Timeout:
                if time.monotonic() >= deadline:
                    raise DownloadFailed(
                        f"Timed out after {timeout:g} s waiting for another download of "
                        f"{self.what}",
                    ) from None
                continue
            return True

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        import filelock  # noqa: PLC0415 - keeps `import model_fetch` light

        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        return True

    def release(self) -> None:
        """Let the lock go."""
        self._lock.release()

    def check(self) -> None:
        """Nothing to check: nobody takes a lock file away from its holder."""

    def __enter__(self) -> Self:
        """Take the lock, waiting as long as it takes."""
        self._lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lock."""
        self.release()


def local_lock(directory: str, name: str, version: str, key: str) -> LocalLock:
    """The lock file of one (name, version) in a store's ``.locks`` directory (created here)."""
    os.makedirs(directory, exist_ok=True)
    return LocalLock(os.path.join(directory, f"{key}.lock"), what=f"{name!r} version {version!r}")
