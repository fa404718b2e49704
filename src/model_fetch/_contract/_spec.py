"""How a frozen value declares its wire body: field metadata, computed keys, and the body itself.

A value class becomes a wire body with the :func:`body` decorator. Its attrs fields go on the wire
in their order, under their own names, unless the field's metadata says otherwise under the one
key ``"wire"`` (:data:`WIRE`, set with :func:`wire`): another key, a nested group, MiB, rounding,
omission, hidden. Keys that are no single field (a constant ``status``, a ``message`` property)
are :class:`Computed` keys of the body. Other concerns keep their own metadata keys beside it.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "WIRE",
    "Body",
    "Computed",
    "Group",
    "Wire",
    "bodies",
    "body",
    "body_of",
    "computed",
    "constant",
    "wire",
    "wire_of",
]

#: The field metadata key this module reads.
WIRE: Final = "wire"

_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class Wire:
    """How one attrs field appears in its wire body, and the caps a request must respect.

    Attributes:
        key: The JSON key (the field's name when None).
        group: The nested object (a key of the body's ``groups``) the key goes in.
        mib: The field is a byte count, shown in MiB with one decimal.
        digits: Round the number to this many decimals.
        hidden: Never on the wire: the value is for Python callers only.
        omit: Leave the key out when the value is None (``"none"``) or equals the field's
            default (``"default"``).
        rest: Part of the REST request schema (False: library and CLI only).
        ge: Smallest value allowed.
        gt: The value must be above this.
        le: Largest value allowed.
        min_items: Fewest items a list may have.
        max_items: Most items a list may have.
        item_length: Longest string item of a list (items are never empty).
    """

    key: str | None = None
    group: str | None = None
    mib: bool = False
    digits: int | None = None
    hidden: bool = False
    omit: Literal["none", "default"] | None = None
    rest: bool = True
    ge: int | float | None = None
    gt: int | float | None = None
    le: int | float | None = None
    min_items: int | None = None
    max_items: int | None = None
    item_length: int | None = None


#: The rule of a field without ``"wire"`` metadata: on the wire as it is.
PLAIN: Final = Wire()


def wire(**rules: Any) -> dict[str, Wire]:
    """Return field metadata holding a :class:`Wire` (``attrs.field(metadata=wire(...))``).

    Merge it with other concerns' keys: ``metadata={**wire(hidden=True), "other": ...}``.
    """
    return {WIRE: Wire(**rules)}


def wire_of(field: attrs.Attribute[Any]) -> Wire:
    """The :class:`Wire` rule of an attrs field."""
    rule = field.metadata.get(WIRE, PLAIN)
    if not isinstance(rule, Wire):
        raise TypeError(f"{field.name}: metadata[{WIRE!r}] must be a Wire, not {rule!r}")
    return rule


@attrs.frozen(kw_only=True)
class Computed:
    """A key that is no single field: a constant, or an attribute (a property) of the value.

    Attributes:
        key: The JSON key.
        annotation: Its type on the wire (``str``, ``bool``, ``Literal[...]``) for the schema.
        attr: The attribute read from the value; None for a constant.
        value: The constant, when ``attr`` is None.
        group: The nested object it goes in.
        after: The field it follows; None puts it first (in its group).
        mib: The attribute is a byte count, shown in MiB with one decimal.
    """

    key: str
    annotation: Any
    attr: str | None = None
    value: Any = None
    group: str | None = None
    after: str | None = None
    mib: bool = False


def constant(
    key: str,
    value: str | bool,
    *,
    annotation: Any = None,
    group: str | None = None,
    after: str | None = None,
) -> Computed:
    """A key that always holds ``value`` (its schema type is ``Literal[value]`` unless given)."""
    return Computed(
        key=key,
        annotation=Literal[value] if annotation is None else annotation,
        value=value,
        group=group,
        after=after,
    )


def computed(
    key: str,
    annotation: Any,
    *,
    attr: str | None = None,
    group: str | None = None,
    after: str | None = None,
    mib: bool = False,
) -> Computed:
    """A key read from the value's attribute ``attr`` (by default, the attribute named ``key``)."""
    return Computed(
        key=key,
        annotation=annotation,
        attr=attr or key,
        group=group,
        after=after,
        mib=mib,
    )


@attrs.frozen(kw_only=True)
class Group:
    """A nested object of a body.

    Attributes:
        name: Its schema name (``InstallationBody``).
        doc: One line for the schema's description.
    """

    name: str
    doc: str


@attrs.frozen(kw_only=True)
class Body:
    """A value class's wire body.

    Attributes:
        name: The schema name (``CompletedBody``), unique among bodies.
        doc: One line for the schema's description.
        computed: Keys that are no single field, in order.
        groups: The nested objects by key.
        request: A request body: strict JSON types, unknown keys refused, ``rest`` fields only.
    """

    name: str
    doc: str
    computed: tuple[Computed, ...] = ()
    groups: Mapping[str, Group] = attrs.field(factory=dict)
    request: bool = False


_BODIES: dict[type, Body] = {}


def body(
    name: str,
    doc: str,
    *keys: Computed,
    groups: Mapping[str, Group] | None = None,
    request: bool = False,
) -> Callable[[type[_T]], type[_T]]:
    """Declare an attrs class a wire body (put it above ``@attrs.frozen``).

    Args:
        name: The schema name.
        doc: One line for the schema's description.
        *keys: The keys that are no single field.
        groups: The nested objects by key.
        request: Whether it is a request body.
    """
    spec = Body(name=name, doc=doc, computed=keys, groups=dict(groups or {}), request=request)

    def register(cls: type[_T]) -> type[_T]:
        declared = attrs.has(cls)  # not in the condition: it would narrow cls's type
        if not declared:
            raise TypeError(f"{cls.__name__} must be an attrs class to be a wire body")
        taken = next((other for other, known in _BODIES.items() if known.name == name), None)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise TypeError(f"{cls.__name__}: the body name {name!r} is {taken.__name__}'s")
        _BODIES[cls] = spec
        return cls

    return register


def body_of(cls: type) -> Body:
    """The body declared for a value class.

    Raises:
        TypeError: The class is no wire body.
    """
    spec = _BODIES.get(cls)
    if spec is None:
        raise TypeError(f"{cls.__name__} is not a wire body")
    return spec


def bodies() -> Mapping[type, Body]:
    """Every wire body declared so far (the classes of ``model_fetch._models``, once imported)."""
    return types.MappingProxyType(_BODIES)
