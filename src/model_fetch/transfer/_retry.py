"""Retries: which failures are retried, how long to wait, and the one retry loop.

A :class:`Retry` is a frozen budget, like urllib3's ``Retry``: each failure returns a new value,
so it is safe to share and easy to test. :func:`run_with_retries` is the only loop that repeats
an attempt; the single-stream fetch of a whole file and each parallel segment both run in it.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Final, TypeVar

import attrs

from model_fetch._cancel import check_cancelled
from model_fetch._log import get_logger

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from model_fetch._clock import Clock

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "RETRY_AFTER_CAP",
    "RETRY_STATUSES",
    "Retry",
    "Retryable",
    "backoff_delay",
    "parse_retry_after",
    "run_with_retries",
]

log = get_logger(__name__)

BACKOFF_BASE: Final = 0.5
BACKOFF_CAP: Final = 30.0
#: A server asking for more than this is obeyed only up to this many seconds.
RETRY_AFTER_CAP: Final = 300.0
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

_T = TypeVar("_T")


class Retryable(Exception):
    """A failure that may pass: the attempt is worth repeating.

    Args:
        reason: What went wrong (shown in the final error when the retries run out).
        retry_after: Seconds the server asked to wait, if it did.
        restart: The bytes kept so far cannot be trusted: the next attempt starts from zero.
    """

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        restart: bool = False,
    ) -> None:
        """Record the failure."""
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.restart = restart


def backoff_delay(
    retry_number: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Return how long to wait before retry number ``retry_number`` (1 for the first retry).

    Exponential backoff with "equal jitter": half the delay is fixed and half random, so retries
    from many clients spread out but never collapse to zero. A server's Retry-After wins over
    the computed delay (capped at :data:`RETRY_AFTER_CAP`).

    Args:
        retry_number: 1 for the first retry, 2 for the second, and so on.
        retry_after: Seconds the server asked for, if any.
        rng: The random source (tests pass a seeded one).
    """
    if retry_after is not None:
        return max(0.0, min(retry_after, RETRY_AFTER_CAP))
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (1 << max(0, retry_number - 1)))
    jitter: float = (rng or random.Random()).uniform(0, delay / 2)  # noqa: S311 - not crypto
    return delay / 2 + jitter


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date. Returns None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # noqa: PLC0415 - with socket, costly; a cache hit sends no request

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


@attrs.frozen(kw_only=True)
class Retry:
    """A retry budget; :meth:`failed` returns the budget after one more failure.

    Progress resets the budget: what counts is failures since the last attempt that got further
    than any before (a fault that repeats at the same offset spends it).

    Attributes:
        retries: Fruitless retries allowed after the first attempt.
        backoff: Wait between attempts (see :func:`backoff_delay`). A parallel segment retries
            at once: the other connections keep the link busy meanwhile.
        progress_is_free: A failure that made progress costs nothing (a parallel segment: only
            a range that is stuck fails). Otherwise it counts as the first of a new run, so
            ``retries=0`` means exactly one attempt of a whole file.
        attempts: Attempts that failed so far.
        fruitless: Failures counted since the last progress.
        furthest: The furthest position any attempt reached.
    """

    retries: int
    backoff: bool = True
    progress_is_free: bool = False
    attempts: int = 0
    fruitless: int = 0
    furthest: int = 0

    def failed(self, reached: int) -> Retry:
        """The budget after an attempt that failed at position ``reached``."""
        progressed = reached > self.furthest
        fruitless = 0 if progressed else self.fruitless
        if not (progressed and self.progress_is_free):
            fruitless += 1
        return attrs.evolve(
            self,
            attempts=self.attempts + 1,
            fruitless=fruitless,
            furthest=max(self.furthest, reached),
        )

    @property
    def exhausted(self) -> bool:
        """Whether no retry is left."""
        return self.fruitless > self.retries

    def delay(self, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt."""
        if not self.backoff:
            return 0.0
        return backoff_delay(max(self.fruitless, 1), retry_after, rng)


def run_with_retries(
    attempt: Callable[[], _T],
    retry: Retry,
    *,
    reached: Callable[[], int],
    give_up: Callable[[Retryable, Retry], BaseException],
    clock: Clock | None = None,
    rng: random.Random | None = None,
    cancel: threading.Event | None = None,
    label: str = "",
) -> _T:
    """Run ``attempt`` until it returns, retrying each :class:`Retryable` it raises.

    Any other exception ends the loop at once. A cancel stops it before the next wait.

    Args:
        attempt: One attempt; raises :class:`Retryable` for a failure worth repeating.
        retry: The budget to start from (its ``furthest`` is where the first attempt starts).
        reached: How far the last attempt got (bytes), read after each failure.
        give_up: Builds the error raised when the budget runs out (chained to the last failure).
        clock: Sleeps between attempts (required when ``retry.backoff``).
        rng: Random source of the backoff jitter.
        cancel: When set, stops retrying with DownloadCancelled.
        label: What is being retried, for the log.

    Returns:
        What the first successful attempt returned.
    """
    while True:
        try:
            return attempt()
        except Retryable as exc:
            retry = retry.failed(reached())
            if retry.exhausted:
                raise give_up(exc, retry) from exc
            check_cancelled(cancel)
            delay = retry.delay(exc.retry_after, rng)
            log.info(
                "Attempt %d for %s failed (%s); retrying in %.1f s",
                retry.attempts,
                label,
                exc.reason,
                delay,
            )
            if delay > 0:
                if clock is None:  # pragma: no cover - a programming error
                    raise RuntimeError("a retry with backoff needs a clock") from exc
                clock.sleep(delay)
