"""The lease: the (name, version) lock of a store on an object store with conditional writes.

A :class:`Lease` is a small object created with a conditional create, renewed by its holder with a
conditional replace, and taken over by a waiter once its ETag has stayed the same for the lease
time *on the waiter's own monotonic clock*: no node ever compares the store's timestamps with its
own clock, so clock skew between nodes cannot break it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from model_fetch._cancel import check_cancelled
from model_fetch._log import get_logger
from model_fetch.exceptions import DownloadFailed, StoreUnavailable
from model_fetch.storage._objects import Conditional, precondition_failed

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Self

__all__ = ["Lease", "LeaseLost"]

log = get_logger(__name__)


class LeaseLost(DownloadFailed):
    """The lease was taken over (or deleted) while its holder worked; the holder must not commit."""


class Lease:
    """A lease object on an object store: one holder at a time, renewed while it works.

    Args:
        fs: The filesystem (must have passed :meth:`Conditional.probe`).
        path: The lease object's path.
        ttl: Seconds without renewal after which a waiter may take the lease over.
        what: What the lease protects, for messages.
        sleep: Waits between polls (tests may inject one).
        monotonic: The waiter's own clock.
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        ttl: float,
        *,
        what: str,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an unheld lease."""
        self._cond = Conditional(fs)
        self.path = path
        self.ttl = ttl
        self.what = what
        self._sleep = sleep
        self._monotonic = monotonic
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._etag: str | None = None
        self._renewals = 0
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()
        self.took_over = False

    @property
    def held(self) -> bool:
        """Whether this process holds the lease (and has not lost it)."""
        return self._etag is not None and not self._lost.is_set()

    def _body(self) -> bytes:
        self._renewals += 1
        return json.dumps(
            {"owner": self._owner, "renewals": self._renewals, "ttl": self.ttl, "what": self.what},
        ).encode()

    def try_acquire(self) -> bool:
        """Create the lease if nobody holds it; never waits."""
        try:
            etag = self._cond.create(self.path, self._body())
        except FileExistsError:
            return False
        self._held(etag)
        return True

    def acquire(
        self,
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        done: Callable[[], bool] | None = None,
    ) -> bool:
        """Take the lease, waiting while another holder keeps renewing it.

        Args:
            timeout: Seconds to wait in all.
            cancel: Stops the wait with DownloadCancelled.
            done: Polled while waiting; when it returns True the wait ends without the lease
                (the holder's work is visible, so it is not needed any more).

        Returns:
            True when the lease is held; False when ``done`` said the work was done.

        Raises:
            StoreUnavailable: The wait timed out.
        """
        deadline = self._monotonic() + timeout
        poll = min(2.0, max(0.05, self.ttl / 10))
        seen: str | None = None
        seen_at = 0.0
        while True:
            check_cancelled(cancel)
            if self.try_acquire():
                return True
            if done is not None and done():
                return False
            info = self._cond.head(self.path)
            now = self._monotonic()
            if info is not None:
                etag = str(info.get("ETag") or "")
                if etag != seen:
                    seen, seen_at = etag, now  # renewed (or new holder): start counting again
                elif now - seen_at >= self.ttl and self._take_over(etag):
                    return True
            if now >= deadline:
                raise StoreUnavailable(
                    f"Timed out after {timeout:g} s waiting for the lease on {self.what}",
                    url=self.path,
                )
            self._sleep(poll)

    def _take_over(self, etag: str) -> bool:
        try:
            new = self._cond.replace(self.path, self._body(), etag)
        except FileNotFoundError:
            return False
        except OSError as exc:
            if precondition_failed(exc):
                return False  # another waiter took it first, or the holder renewed after all
            raise
        log.warning("Took over the expired lease on %s (its holder stopped renewing)", self.what)
        self.took_over = True
        self._held(new)
        return True

    def _held(self, etag: str) -> None:
        self._etag = etag
        self._lost.clear()
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_loop, name=f"lease:{self.what}", daemon=True
        )
        self._renewer.start()

    def _renew_loop(self) -> None:
        last_ok = self._monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
                last_ok = self._monotonic()
            except LeaseLost:
                return
            except Exception as exc:  # noqa: BLE001 - a network blip: keep trying until the ttl
                log.warning("Could not renew the lease on %s: %s", self.what, exc)
                if self._monotonic() - last_ok >= self.ttl:
                    self._lost.set()
                    return

    def renew(self) -> None:
        """Renew the lease now.

        Raises:
            LeaseLost: Someone else holds it now (or it was deleted).
        """
        with self._lock:
            if self._etag is None or self._lost.is_set():
                raise LeaseLost(f"The lease on {self.what} was lost", url=self.path)
            try:
                self._etag = self._cond.replace(self.path, self._body(), self._etag)
            except FileNotFoundError:
                self._lost.set()
            except OSError as exc:
                if not precondition_failed(exc):
                    raise
                self._lost.set()
            if self._lost.is_set():
                log.warning("Lost the lease on %s to another node", self.what)
                raise LeaseLost(
                    f"The lease on {self.what} was taken over by another node; not committing",
                    url=self.path,
                )

    def check(self) -> None:
        """Renew once, right before committing: a holder that lost its lease stops here.

        Raises:
            LeaseLost: The lease is no longer ours.
        """
        self.renew()

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        with self._lock:
            etag, self._etag = self._etag, None
        if etag is not None and not self._lost.is_set():
            with contextlib.suppress(Exception):
                self._cond.delete(self.path, etag)

    def __enter__(self) -> Self:
        """Take the lease, waiting as long as it takes."""
        self.acquire(timeout=math.inf)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lease."""
        self.release()
