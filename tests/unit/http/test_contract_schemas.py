"""The REST schemas and the contract agree: what the server sends is what its OpenAPI says."""

from __future__ import annotations

import math
import types
import typing
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from model_fetch import DownloadOptions, DownloadRequest, InvalidRequest
from model_fetch._contract import describe, render, wire_of
from model_fetch.http import _schemas
from model_fetch.http._schemas import DownloadBody, OptionsBody, model_for
from strategies import WIRE_VALUES, without_library_only

#: The generated models the routes document, by the value class they come from.
ROUTE_MODELS = {
    "CompletedBody": _schemas.CompletedBody,
    "StartedBody": _schemas.StartedBody,
    "ProgressBody": _schemas.ProgressBody,
    "FailedBody": _schemas.FailedBody,
    "CancelBody": _schemas.CancelBody,
    "ModelsBody": _schemas.ModelsBody,
    "ModelInfoBody": _schemas.ModelInfoBody,
    "RemovalBody": _schemas.RemovalBody,
    "CacheInfoBody": _schemas.CacheInfoBody,
    "SourcesBody": _schemas.SourcesBody,
    "HealthBody": _schemas.HealthBody,
    "ErrorBody": _schemas.ErrorBody,
    "OptionsBody": _schemas.OptionsBody,
}


def _closed(schema: Any) -> Any:
    """The schema with every object closed: a key it does not name is an error."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in closed:
            closed.setdefault("additionalProperties", False)
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def test_route_models_are_generated_from_the_bodies() -> None:
    """Each model a route documents is the one generated from its wire body, under its name."""
    by_name = {describe(cls).name: cls for cls in WIRE_VALUES}
    for name, model in ROUTE_MODELS.items():
        assert model.__name__ == name
        assert model is model_for(by_name[name])


@pytest.mark.parametrize(
    "cls", sorted(WIRE_VALUES, key=lambda c: c.__name__), ids=lambda cls: cls.__name__
)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_value_renders_to_a_body_its_schema_accepts(cls: type, data: st.DataObject) -> None:
    """Every rendered body validates against its pydantic model and its closed JSON schema."""
    model = model_for(cls)
    body = without_library_only(cls, render(data.draw(WIRE_VALUES[cls])))
    model.model_validate(body)
    jsonschema.validate(body, _closed(model.model_json_schema()))


def _rest_fields(cls: type) -> dict[str, attrs.Attribute[Any]]:
    return {field.name: field for field in attrs.fields(cls) if wire_of(field).rest}


def test_download_body_has_exactly_the_requests_fields() -> None:
    """POST /model-download takes the request's fields (bar library-only ones), same defaults."""
    fields = _rest_fields(DownloadRequest)
    assert list(DownloadBody.model_fields) == list(fields)
    for name, info in DownloadBody.model_fields.items():
        default = fields[name].default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            assert info.default is None, "a missing object means the request's default"
        elif default is attrs.NOTHING:
            assert info.is_required(), name
        else:
            assert info.default == default, name
    assert typing.get_args(DownloadBody.model_fields["options"].annotation)[0] is OptionsBody


def test_options_body_has_exactly_the_options_rest_fields() -> None:
    """The options object over REST is DownloadOptions minus its library-only fields."""
    assert list(OptionsBody.model_fields) == list(_rest_fields(DownloadOptions))
    assert "allow_torchscript" not in OptionsBody.model_fields
    with pytest.raises(ValidationError):
        OptionsBody.model_validate({"allow_torchscript": True})
    defaults = {name: info.default for name, info in OptionsBody.model_fields.items()}
    assert defaults == {
        name: field.default for name, field in _rest_fields(DownloadOptions).items()
    }


def _library_accepts(options: dict[str, Any]) -> bool:
    try:
        DownloadOptions(**options)
    except InvalidRequest:
        return False
    return True


def _rest_accepts(options: dict[str, Any]) -> bool:
    try:
        OptionsBody.model_validate(options)
    except ValidationError:
        return False
    return True


FIELDS = attrs.fields_dict(attrs.resolve_types(DownloadOptions))
NUMBERS = [name for name, field in FIELDS.items() if field.type in (int, float)]


def _candidates(name: str) -> st.SearchStrategy[Any]:
    rule = wire_of(FIELDS[name])
    edges = [v for v in (rule.ge, rule.gt, rule.le) if v is not None]
    near = st.sampled_from(edges).flatmap(
        lambda edge: st.sampled_from([edge - 1, edge, edge + 1, edge - 1e-9, edge + 1e-9])
    )
    wide = st.integers(min_value=-(1 << 60), max_value=1 << 60)
    if FIELDS[name].type is float:
        return near | wide | st.floats(allow_nan=True, allow_infinity=True)
    return (near | wide).filter(lambda value: isinstance(value, int))


@pytest.mark.parametrize("name", NUMBERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_library_and_rest_refuse_the_same_numbers(name: str, data: st.DataObject) -> None:
    """For every numeric option, a value is within the library's caps exactly when REST takes it."""
    value = data.draw(_candidates(name))
    if isinstance(value, float) and math.isnan(value):
        assert not _library_accepts({name: value})
        assert not _rest_accepts({name: value})
        return
    assert _library_accepts({name: value}) == _rest_accepts({name: value}), value


#: Pattern lists around the caps: about 0, 1 or 64 short globs, and perhaps one odd item (empty,
#: or at the length cap, or one beyond).
patterns = st.tuples(
    st.sampled_from([0, 1, 2, 63, 64, 65]),
    st.sampled_from([None, "", "x" * 256, "x" * 257]),
).flatmap(
    lambda shape: st.lists(
        st.text(min_size=1, max_size=3), min_size=shape[0], max_size=shape[0]
    ).map(lambda items: items if shape[1] is None else [*items, shape[1]])
)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["allow_patterns", "ignore_patterns"]), value=patterns)
def test_library_and_rest_refuse_the_same_patterns(name: str, value: list[str]) -> None:
    """A pattern list is within the caps (count, length, non-empty) for both or for neither."""
    assert _library_accepts({name: value}) == _rest_accepts({name: value})


def test_generated_types_match_the_fields() -> None:
    """Types follow the fields: MiB and durations are numbers, moments strings, tuples arrays."""
    completed = model_for(next(cls for cls in WIRE_VALUES if cls.__name__ == "InstallResult"))
    fields = completed.model_fields
    assert fields["file_size_mb"].annotation is float
    assert fields["status"].annotation == typing.Literal["completed"]
    installation = fields["installation"].annotation
    assert isinstance(installation, type)
    assert issubclass(installation, BaseModel)
    assert installation.model_fields["installed_at"].annotation is str
    models = _schemas.ModelsBody.model_fields["models"].annotation
    entry = typing.get_args(models)[0]
    assert isinstance(entry, types.UnionType)
    assert [option.__name__ for option in typing.get_args(entry)] == [
        "ModelEntry",
        "DownloadEntry",
    ]
