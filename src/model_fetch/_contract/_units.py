"""The contract's units: MiB with one decimal, and timestamps as ``2025-08-14T10:35:22.000Z``."""

from __future__ import annotations

import datetime as dt
from typing import Final

__all__ = ["MIB", "iso_timestamp", "parse_timestamp", "to_mb"]

MIB: Final = 1024 * 1024


def to_mb(size: float) -> float:
    """Return a byte count in the contract's MB (MiB), rounded to one decimal as it shows them."""
    return round(size / MIB, 1)


def iso_timestamp(moment: dt.datetime) -> str:
    """Format a moment as the contract does: ``2025-08-14T10:35:22.000Z``."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse a timestamp written by :func:`iso_timestamp`."""
    return dt.datetime.fromisoformat(text)
