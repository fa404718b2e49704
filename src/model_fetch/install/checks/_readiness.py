"""The outcome of a check, and the helpers every check builds it with."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Malformed", "Readiness", "failed", "passed"]


@attrs.frozen(kw_only=True)
class Readiness:
    """The outcome of a readiness check.

    Attributes:
        ready: True only when a real check of the file (or model) passed.
        checked: Which check ran (``safetensors.header``, ``torch.weights_only``, ``torch.jit``,
            ``gguf.header``, ``onnx.structure``, or several joined by ``+``), or None when none
            could run.
        reason: Why it is not ready (None when it is).
        details: Facts the check found (tensor counts, unsafe globals, limits, per-file results).
    """

    ready: bool
    checked: str | None
    reason: str | None
    details: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``readiness`` object stored in the install record."""
        return {"checked": self.checked, "reason": self.reason}


def passed(checked: str, **details: Any) -> Readiness:
    """A passing outcome of the check ``checked``."""
    return Readiness(ready=True, checked=checked, reason=None, details=details)


def failed(checked: str | None, reason: str, **details: Any) -> Readiness:
    """A not-ready outcome; ``checked`` is None when no check could run."""
    return Readiness(ready=False, checked=checked, reason=reason, details=details)


class Malformed(Exception):
    """A structural check found the file malformed (the message says how)."""
