"""The shape of a body for schemas: each key's wire type, whether it is required, its caps.

Pure and free of pydantic: the REST layer turns a :class:`Shape` into a pydantic model (and so
into the OpenAPI document), and tests compare it with what :func:`render` writes. Wire types are
Python types (``str``, ``float``, ``Literal[...]``, ``dict[str, Any]``, ``NoneType``), a nested
:class:`Shape`, :class:`ListOf` or :class:`AnyOf`.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any, Final, Literal, get_args, get_origin

import attrs

from model_fetch._contract._layout import FieldSlot, GroupSlot, Slot, layout
from model_fetch._contract._spec import Computed, Wire, bodies

__all__ = ["AnyOf", "Key", "ListOf", "Shape", "describe"]

_NONE = type(None)


@attrs.frozen
class ListOf:
    """A JSON array of one wire type."""

    item: Any


@attrs.frozen
class AnyOf:
    """One of several wire types (``NoneType`` for null)."""

    options: tuple[Any, ...]


@attrs.frozen(kw_only=True)
class Key:
    """One key of a body's shape.

    Attributes:
        name: The JSON key.
        type: Its wire type.
        required: Whether every body has it.
        default: What a missing key means (when not required).
        rule: The field's wire rule (caps), or None for a computed key.
    """

    name: str
    type: Any
    required: bool = True
    default: Any = None
    rule: Wire | None = None


@attrs.frozen(kw_only=True)
class Shape:
    """A body's shape: its schema name, description and keys in order."""

    name: str
    doc: str
    keys: tuple[Key, ...]
    request: bool = False


_SHAPES: dict[type, Shape] = {}


def describe(cls: type) -> Shape:
    """The shape of a value class's body (request bodies list their ``rest`` fields only)."""
    known = _SHAPES.get(cls)
    if known is None:
        known = _SHAPES[cls] = _describe(cls)
    return known


def _describe(cls: type) -> Shape:
    plan = layout(cls)
    attrs.resolve_types(cls)
    keys = _keys(plan.slots, request=plan.body.request)
    return Shape(name=plan.body.name, doc=plan.body.doc, keys=keys, request=plan.body.request)


def _keys(slots: tuple[Slot, ...], *, request: bool) -> tuple[Key, ...]:
    keys = []
    for slot in slots:
        if isinstance(slot, GroupSlot):
            shape = Shape(
                name=slot.group.name, doc=slot.group.doc, keys=_keys(slot.slots, request=request)
            )
            keys.append(Key(name=slot.key, type=shape))
        elif isinstance(slot, Computed):
            keys.append(Key(name=slot.key, type=float if slot.mib else slot.annotation))
        elif not request or slot.rule.rest:
            keys.append(_field_key(slot, request=request))
    return tuple(keys)


def _field_key(slot: FieldSlot, *, request: bool) -> Key:
    field, rule = slot.field, slot.rule
    kind = float if rule.mib else wire_type(field.type)
    if request:
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        required = default is attrs.NOTHING
        return Key(name=slot.key, type=kind, required=required, default=default, rule=rule)
    if rule.omit == "none":
        return Key(name=slot.key, type=kind, required=False, default=None, rule=rule)
    if rule.omit == "default":
        return Key(name=slot.key, type=kind, required=False, default=field.default, rule=rule)
    return Key(name=slot.key, type=kind, rule=rule)


_SCALARS: Final = (str, int, float, bool, _NONE)


def wire_type(annotation: Any) -> Any:
    """The wire type of a field's (resolved) Python type.

    Raises:
        TypeError: The type has no JSON form.
    """
    origin = get_origin(annotation)
    if annotation is dt.datetime:
        kind: Any = str
    elif hasattr(annotation, "__supertype__"):  # a NewType such as ModelName
        kind = wire_type(annotation.__supertype__)
    elif annotation in bodies():
        kind = describe(annotation)
    elif origin in (types.UnionType, typing.Union):
        kind = AnyOf(tuple(wire_type(item) for item in get_args(annotation)))
    elif origin in (tuple, list):
        args = {item for item in get_args(annotation) if item is not Ellipsis}
        if len(args) != 1:
            raise TypeError(f"{annotation} is not a list of one type")
        kind = ListOf(wire_type(args.pop()))
    elif origin is dict:
        kind = dict[str, Any]
    elif origin is Literal or annotation in _SCALARS:
        kind = annotation
    else:
        raise TypeError(f"{annotation!r} has no wire type")
    return kind
