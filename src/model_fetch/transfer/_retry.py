"""Pure retry rules: which failures are retried, how long to wait, and Retry-After parsing."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from typing import Final

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "RETRY_AFTER_CAP", "backoff_delay", "parse_retry_after"]

BACKOFF_BASE: Final = 0.5
BACKOFF_CAP: Final = 30.0
#: A server asking for more than this is obeyed only up to this many seconds.
RETRY_AFTER_CAP: Final = 300.0
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


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
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())
