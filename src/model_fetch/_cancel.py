"""Cooperative cancellation: the pipeline checks an event at its safe points.

A :class:`CancelEvent` also runs callbacks when it is set, so the transfer engine can shut the
socket of a read that is blocked waiting for a silent server: a cancel then takes effect at once
instead of after the read timeout.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

from model_fetch._log import get_logger
from model_fetch.exceptions import DownloadCancelled

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["CancelEvent", "check_cancelled", "on_cancel"]

log = get_logger(__name__)


class CancelEvent(threading.Event):
    """A :class:`threading.Event` that also runs registered callbacks when it is set."""

    def __init__(self) -> None:
        """Create an unset event with no callbacks."""
        super().__init__()
        self._callbacks: list[Callable[[], object]] = []
        self._callbacks_lock = threading.Lock()

    def set(self) -> None:
        """Set the event and run every registered callback once."""
        super().set()
        with self._callbacks_lock:
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a failing callback must not stop the others
                log.debug("A cancel callback failed", exc_info=True)

    def add_callback(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the event is set (at once if it already is)."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def remove_callback(self, callback: Callable[[], object]) -> None:
        """Forget a callback that is no longer needed."""
        with self._callbacks_lock, contextlib.suppress(ValueError):
            self._callbacks.remove(callback)


@contextlib.contextmanager
def on_cancel(cancel: threading.Event | None, callback: Callable[[], object]) -> Iterator[None]:
    """Run ``callback`` if ``cancel`` is set while the block runs (CancelEvent only)."""
    if not isinstance(cancel, CancelEvent):
        yield
        return
    cancel.add_callback(callback)
    try:
        yield
    finally:
        cancel.remove_callback(callback)


def check_cancelled(cancel: threading.Event | None) -> None:
    """Raise DownloadCancelled if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled("Download cancelled")
