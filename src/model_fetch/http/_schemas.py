"""Request and response bodies of the REST API, as pydantic models (they also make the OpenAPI).

Every response body and the ``options`` object are generated from the wire bodies of
``model_fetch._contract`` (:func:`model_for`): their keys, types, requiredness, defaults and caps
are the values' own, so the OpenAPI document cannot name a key the server does not send, nor
miss one it does. The option caps are the library's (``DownloadOptions``): a value the library
refuses is a 400 here, before any work starts.

Only the two request bodies whose rules are the REST API's own are declared here:
``DownloadBody`` (http(s) URLs only, source names, the metadata cap) and ``RemoveBody``; a test
keeps ``DownloadBody`` in step with ``DownloadRequest``. Integers accept JSON numbers with no
fractional part (``8192`` and ``8192.0``) but never booleans or strings.
"""

from __future__ import annotations

import functools
import operator
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    create_model,
)

from model_fetch._contract import AnyOf, Key, ListOf, Shape, describe
from model_fetch._models import (
    CacheInfo,
    DownloadOptions,
    ErrorDetail,
    Health,
    InstallResult,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobStarted,
    ModelInfo,
    ModelListing,
    RemovalResult,
    SourceListing,
)
from model_fetch._paths import MAX_NAME, MAX_VERSION, NAME_PATTERN, VERSION_PATTERN
from model_fetch.checksums import CHECKSUM_PATTERN

if TYPE_CHECKING:
    from model_fetch._contract import Wire

#: Source names: the registry accepts any, but plugins and built-ins use this alphabet.
SOURCE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
URL_PATTERN: Final = r"^[hH][tT][tT][pP][sS]?://\S+$"

__all__ = [
    "CAPS",
    "CacheInfoBody",
    "CancelBody",
    "CompletedBody",
    "DownloadBody",
    "ErrorBody",
    "FailedBody",
    "HealthBody",
    "ModelInfoBody",
    "ModelsBody",
    "OptionsBody",
    "ProgressBody",
    "RemovalBody",
    "RemoveBody",
    "SourcesBody",
    "StartedBody",
    "model_for",
]

#: The caps only an untrusted request meets (the options' caps are DownloadOptions'): a body
#: beyond one is a 400.
CAPS: Final[dict[str, int]] = {
    "metadata_bytes": 64 * 1024,
    "download_url_length": 4096,
}


def _json_int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")  # noqa: TRY004 - pydantic wants ValueError
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]
JsonNumber = Annotated[float, BeforeValidator(_json_number)]
#: A request's strict JSON type for each scalar wire type.
_STRICT: Final[dict[Any, Any]] = {int: JsonInt, float: JsonNumber, bool: StrictBool, str: StrictStr}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_MODELS: dict[str, type[BaseModel]] = {}


def model_for(cls: type) -> type[BaseModel]:
    """The pydantic model of a wire body class (generated once, nested bodies included)."""
    return _model(describe(cls))


def _model(shape: Shape) -> type[BaseModel]:
    known = _MODELS.get(shape.name)
    if known is not None:
        return known
    fields: dict[str, Any] = {key.name: _field(key, request=shape.request) for key in shape.keys}
    model: type[BaseModel] = create_model(
        shape.name,
        __base__=_Strict if shape.request else BaseModel,
        __doc__=shape.doc,
        __module__=__name__,
        **fields,
    )
    _MODELS[shape.name] = model
    return model


def _field(key: Key, *, request: bool) -> tuple[Any, Any]:
    caps: dict[str, Any] = {}
    if key.rule is not None:
        caps = {
            name: value
            for name, value in (
                ("ge", key.rule.ge),
                ("gt", key.rule.gt),
                ("le", key.rule.le),
                ("min_length", key.rule.min_items),
                ("max_length", key.rule.max_items),
            )
            if value is not None
        }
    annotation = _annotation(key.type, key.rule, request=request)
    info = Field(**caps) if key.required else Field(key.default, **caps)
    return annotation, info


def _annotation(kind: Any, rule: Wire | None, *, request: bool) -> Any:
    if isinstance(kind, Shape):
        return _model(kind)
    if isinstance(kind, AnyOf):
        options = [_annotation(option, rule, request=request) for option in kind.options]
        return functools.reduce(operator.or_, options)
    if isinstance(kind, ListOf):
        if request and kind.item is str:
            longest = rule.item_length if rule is not None else None
            return list[Annotated[StrictStr, Field(min_length=1, max_length=longest)]]
        return list[_annotation(kind.item, rule, request=request)]  # type: ignore[misc]
    return _STRICT.get(kind, kind) if request else kind


# Generated from the contract: the names are the schemas' names in the OpenAPI document.
if TYPE_CHECKING:  # a generated class is no static type; checkers see BaseModel
    OptionsBody = BaseModel
else:
    OptionsBody = model_for(DownloadOptions)
CompletedBody = model_for(InstallResult)
StartedBody = model_for(JobStarted)
ProgressBody = model_for(JobProgress)
FailedBody = model_for(JobFailed)
CancelBody = model_for(JobCancelled)
ModelsBody = model_for(ModelListing)
ModelInfoBody = model_for(ModelInfo)
RemovalBody = model_for(RemovalResult)
CacheInfoBody = model_for(CacheInfo)
SourcesBody = model_for(SourceListing)
HealthBody = model_for(Health)
ErrorBody = model_for(ErrorDetail)


class DownloadBody(_Strict):
    """The body of ``POST /model-download``."""

    model_name: StrictStr = Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)
    version: StrictStr = Field(
        "latest", min_length=1, max_length=MAX_VERSION, pattern=VERSION_PATTERN
    )
    download_url: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=CAPS["download_url_length"],
        pattern=URL_PATTERN,
    )
    source: StrictStr = Field("default", pattern=SOURCE_PATTERN)
    checksum: StrictStr | None = Field(None, pattern=CHECKSUM_PATTERN)
    force_download: StrictBool = False
    options: OptionsBody | None = None
    metadata: dict[str, Any] | None = None


class RemoveBody(_Strict):
    """The optional body of ``DELETE /model-remove/{model_name}``."""

    confirm: Literal[True] = True
    force: StrictBool = False
