"""The wire contract: how model_fetch's values become the JSON of the REST API and of ``--json``.

Every wire body is a frozen attrs value declared with :func:`body`; its fields carry their wire
rules (key, group, MiB, omission, caps) as ``"wire"`` field metadata (:func:`wire`). From that one
declaration come

- :func:`render`: the JSON body (``to_dict()`` of the values, the CLI's ``--json``, the routes);
- :func:`describe`: the body's shape, from which ``model_fetch.http`` generates its pydantic
  models and so the OpenAPI document, so a key cannot exist in one and not the other;
- the caps of :class:`~model_fetch.DownloadOptions`, which the library's validators, the CLI's
  help and the REST schema all read.

The bodies themselves are the classes of ``model_fetch._models``: results (``CompletedBody``,
``ModelInfoBody``, ...), the progress object, and the job and service bodies of ``_models._bodies``.
Sizes are MiB (2**20 bytes) rounded to one decimal; timestamps are UTC with milliseconds.
"""

from model_fetch._contract._describe import AnyOf, Key, ListOf, Shape, describe, wire_type
from model_fetch._contract._layout import layout
from model_fetch._contract._render import render, to_json
from model_fetch._contract._spec import (
    WIRE,
    Body,
    Computed,
    Group,
    Wire,
    bodies,
    body,
    body_of,
    computed,
    constant,
    wire,
    wire_of,
)
from model_fetch._contract._units import MIB, iso_timestamp, parse_timestamp, to_mb

__all__ = [
    "MIB",
    "WIRE",
    "AnyOf",
    "Body",
    "Computed",
    "Group",
    "Key",
    "ListOf",
    "Shape",
    "Wire",
    "bodies",
    "body",
    "body_of",
    "computed",
    "constant",
    "describe",
    "iso_timestamp",
    "layout",
    "parse_timestamp",
    "render",
    "to_json",
    "to_mb",
    "wire",
    "wire_of",
    "wire_type",
]
