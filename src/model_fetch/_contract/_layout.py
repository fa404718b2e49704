"""The key order of a body, worked out once per class; the renderer and the schema both walk it.

Fields come in their attrs order. A computed key comes first (in its group) or right after the
field its ``after`` names; a group sits where its first key would.
"""

from __future__ import annotations

from typing import Any

import attrs

from model_fetch._contract._spec import Body, Computed, Group, Wire, body_of, wire_of

__all__ = ["FieldSlot", "GroupSlot", "Layout", "Slot", "layout"]


@attrs.frozen
class FieldSlot:
    """A key that holds one attrs field."""

    key: str
    field: attrs.Attribute[Any]
    rule: Wire


@attrs.frozen
class GroupSlot:
    """A nested object and its keys."""

    key: str
    group: Group
    slots: tuple[Slot, ...]


Slot = FieldSlot | Computed | GroupSlot


@attrs.frozen
class Layout:
    """A body's keys, in order."""

    cls: type
    body: Body
    slots: tuple[Slot, ...]


_LAYOUTS: dict[type, Layout] = {}


def layout(cls: type) -> Layout:
    """The ordered keys of a value class's body (worked out on first use).

    Raises:
        TypeError: The declaration is inconsistent (unknown group or field, a key twice).
    """
    known = _LAYOUTS.get(cls)
    if known is None:
        known = _LAYOUTS[cls] = _layout(cls)
    return known


def _layout(cls: type) -> Layout:
    spec = body_of(cls)
    fields = attrs.fields(cls)
    names = {field.name for field in fields}
    for key in spec.computed:
        if key.after is not None and key.after not in names:
            raise TypeError(f"{cls.__name__}.{key.key}: no field {key.after!r} to follow")
    builder = _Builder(cls, spec)
    for key in spec.computed:
        if key.group is None and key.after is None:
            builder.place(key, None)
    for field in fields:
        rule = wire_of(field)
        if not rule.hidden:
            builder.place(FieldSlot(rule.key or field.name, field, rule), rule.group)
        for key in spec.computed:
            if key.after == field.name:
                builder.place(key, key.group)
    return Layout(cls, spec, builder.slots())


class _Builder:
    """Collects a body's slots in order, opening each group where its first key goes."""

    def __init__(self, cls: type, spec: Body) -> None:
        self.cls = cls
        self.spec = spec
        self.top: list[Slot | str] = []  # a str stands for that group, filled in by slots()
        self.members: dict[str, list[Slot]] = {}

    def place(self, slot: Slot, group: str | None) -> None:
        if group is None:
            self.top.append(slot)
            return
        if group not in self.spec.groups:
            raise TypeError(f"{self.cls.__name__}: no group {group!r} declared")
        if group not in self.members:
            self.members[group] = [
                key for key in self.spec.computed if key.group == group and key.after is None
            ]
            self.top.append(group)
        self.members[group].append(slot)

    def slots(self) -> tuple[Slot, ...]:
        unused = set(self.spec.groups) - set(self.members)
        if unused:
            raise TypeError(f"{self.cls.__name__}: groups {sorted(unused)} hold no key")
        slots = tuple(
            GroupSlot(item, self.spec.groups[item], tuple(self.members[item]))
            if isinstance(item, str)
            else item
            for item in self.top
        )
        _check_unique(self.cls, slots)
        return slots


def _check_unique(cls: type, slots: tuple[Slot, ...]) -> None:
    keys = [slot.key for slot in slots]
    if len(set(keys)) != len(keys):
        raise TypeError(f"{cls.__name__}: a key appears twice in {keys}")
    for slot in slots:
        if isinstance(slot, GroupSlot):
            _check_unique(cls, slot.slots)
