"""Render a frozen value as its wire body: the JSON the REST routes answer and ``--json`` prints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from model_fetch._contract._layout import FieldSlot, GroupSlot, Slot, layout
from model_fetch._contract._spec import Computed, Wire, bodies
from model_fetch._contract._units import iso_timestamp, to_mb

__all__ = ["render", "to_json"]


def render(value: Any) -> dict[str, Any]:
    """Return the wire body of a value whose class is a declared body.

    Raises:
        TypeError: The value's class is no wire body.
    """
    return _slots(value, layout(type(value)).slots)


def _slots(value: object, slots: tuple[Slot, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for slot in slots:
        if isinstance(slot, GroupSlot):
            out[slot.key] = _slots(value, slot.slots)
        elif isinstance(slot, Computed):
            raw = slot.value if slot.attr is None else getattr(value, slot.attr)
            out[slot.key] = to_mb(raw) if slot.mib else to_json(raw)
        else:
            raw = getattr(value, slot.field.name)
            if not _omitted(raw, slot):
                out[slot.key] = _field(raw, slot.rule)
    return out


def _omitted(raw: object, slot: FieldSlot) -> bool:
    if slot.rule.omit == "none":
        return raw is None
    if slot.rule.omit == "default":
        return bool(raw == slot.field.default)
    return False


def _field(raw: Any, rule: Wire) -> Any:
    if raw is None:
        return None
    if rule.mib:
        return to_mb(raw)
    if rule.digits is not None:
        return round(raw, rule.digits)
    return to_json(raw)


def to_json(raw: Any) -> Any:
    """Turn a field's value into JSON: bodies rendered, tuples listed, moments formatted."""
    if isinstance(raw, str | int | float | bool) or raw is None:
        return raw
    if isinstance(raw, dt.datetime):
        return iso_timestamp(raw)
    if type(raw) in bodies():
        return render(raw)
    if isinstance(raw, list | tuple):
        return [to_json(item) for item in raw]
    if isinstance(raw, dict):
        return {key: to_json(item) for key, item in raw.items()}
    raise TypeError(f"{type(raw).__name__} has no JSON form")
