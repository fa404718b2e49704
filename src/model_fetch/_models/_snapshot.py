"""The progress snapshot: the contract's progress object, with exact byte counts for Python."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from model_fetch._contract import body, render, wire

__all__ = ["Progress", "Stage"]

Stage = Literal["downloading", "verifying", "installing"]


@body("ProgressObject", "The contract's progress object.")
@attrs.frozen(kw_only=True)
class Progress:
    """An immutable progress snapshot with the contract's fields.

    Every field is always a number (0 while unknown), as the contract's clients format them.

    Attributes:
        percentage: 0 to 100.
        downloaded_mb: MiB received so far.
        total_mb: MiB expected (0 while unknown).
        speed_mbps: MiB per second, a moving average over the last few seconds.
        eta_seconds: Seconds left at the current speed (0 while unknown).
        current_stage: ``downloading``, ``verifying`` or ``installing``.
        downloaded_bytes: Bytes received so far.
        total_bytes: Bytes expected, or 0 while unknown.
        bytes_from: Where the bytes come from when a fleet mirror is configured: ``"mirror"``
            or ``"origin"`` (None without a mirror).
    """

    percentage: float = 0.0
    downloaded_mb: float = 0.0
    total_mb: float = 0.0
    speed_mbps: float = 0.0
    eta_seconds: float = 0.0
    current_stage: Stage = "downloading"
    downloaded_bytes: int = attrs.field(default=0, metadata=wire(hidden=True))
    total_bytes: int = attrs.field(default=0, metadata=wire(hidden=True))
    bytes_from: Literal["mirror", "origin"] | None = attrs.field(
        default=None, metadata=wire(omit="none")
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's progress object (plus ``bytes_from`` when a mirror is used)."""
        return render(self)
