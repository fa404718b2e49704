"""Which queued job runs next: a bounded number of slots, and a share of them per origin host.

A slow origin (a server dripping a byte a second) can hold a job's worker for as long as its
deadline allows. Without a share, a few such jobs hold every worker and every other download
waits behind them. Here jobs whose origin already holds ``share`` slots wait, and jobs for other
hosts pass them in the queue; among the jobs that may start, the oldest starts first.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["FairSlots", "host_share"]

T = TypeVar("T")


def host_share(slots: int) -> int:
    """How many of ``slots`` one host may hold: half, rounded up (all of one slot)."""
    return max(1, (slots + 1) // 2)


class FairSlots(Generic[T]):
    """A FIFO queue that starts items while slots are free and their key is under its share.

    Args:
        slots: How many items may run at once.
        share: How many of them may share one key.
        start: Called (with the queue's lock held; it must only hand the item on) to run an item.
    """

    def __init__(self, slots: int, share: int, start: Callable[[T], None]) -> None:
        """Create an empty queue."""
        self._slots = slots
        self._share = share
        self._start = start
        self._lock = threading.Lock()
        self._waiting: collections.deque[tuple[Hashable, T]] = collections.deque()
        self._running: collections.Counter[Hashable] = collections.Counter()
        self._closed = False

    def put(self, key: Hashable, item: T) -> None:
        """Queue an item under a key; it starts at once if a slot and its share allow."""
        with self._lock:
            self._waiting.append((key, item))
            self._dispatch()

    def finished(self, key: Hashable) -> None:
        """An item of ``key`` that was started has finished: its slot goes to the next one."""
        with self._lock:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]
            self._dispatch()

    def close(self) -> None:
        """Start nothing more; items still waiting stay unstarted."""
        with self._lock:
            self._closed = True

    def _dispatch(self) -> None:
        """Start every waiting item that may start, oldest first (lock held)."""
        if self._closed:
            return
        index = 0
        while index < len(self._waiting) and self._running.total() < self._slots:
            key, item = self._waiting[index]
            if self._running[key] >= self._share:
                index += 1
                continue
            del self._waiting[index]
            self._running[key] += 1
            self._start(item)
