"""The store's (name, version) lock as the pipeline and the inventory take it.

``Store.lock()`` returns a file lock on local disks and a lease on object stores. This module is
the one place above the storage layer that tells them apart; a lock protocol in storage/
(acquire, try_acquire, release, check) makes each function here a single call.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from model_fetch._cancel import check_cancelled
from model_fetch.exceptions import DownloadFailed
from model_fetch.storage._objects import Lease

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    import filelock

    from model_fetch.storage import Store

    StoreLock = filelock.BaseFileLock | Lease

__all__ = ["acquire", "guard", "try_acquire"]


def acquire(
    store: Store,
    name: str,
    version: str,
    *,
    timeout: float,
    cancel: threading.Event | None,
) -> StoreLock:
    """Take the (name, version) lock, giving up at ``timeout`` seconds or on cancellation.

    Raises:
        DownloadFailed: The wait for a local lock timed out.
        StoreUnavailable: The wait for a lease timed out (its holder keeps renewing it).
        DownloadCancelled: ``cancel`` was set while waiting.
    """
    import filelock  # noqa: PLC0415 - only a download needs it; keeps import light

    lock = store.lock(name, version)
    if isinstance(lock, Lease):
        lock.acquire(timeout=timeout, cancel=cancel)
        return lock
    # The lock waits in real time whatever clock is injected: filelock sleeps for real.
    deadline = time.monotonic() + timeout
    while True:
        check_cancelled(cancel)
        remaining = deadline - time.monotonic()
        try:
            lock.acquire(timeout=max(0.0, min(0.25, remaining)))
        except filelock.Timeout:
            if time.monotonic() >= deadline:
                raise DownloadFailed(
                    f"Timed out after {timeout:g} s waiting for another "
                    f"download of {name!r} version {version!r}",
                ) from None
            continue
        return lock


def try_acquire(lock: StoreLock) -> bool:
    """Take a lock without waiting; tell whether it was taken."""
    import filelock  # noqa: PLC0415 - keeps `import model_fetch` light

    if isinstance(lock, Lease):
        return lock.try_acquire()
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    return True


def guard(lock: StoreLock) -> Callable[[], None] | None:
    """What the commit calls before writing the record: a lease's check that it still holds."""
    return lock.check if isinstance(lock, Lease) else None
