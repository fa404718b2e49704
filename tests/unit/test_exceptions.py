"""The error tree: every leaf carries typed facts, and survives pickling with them."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_fetch import exceptions
from model_fetch.exceptions import (
    ERROR_TABLE,
    ChecksumMismatch,
    DownloadInProgress,
    InsufficientStorage,
    ModelExists,
    ModelFetchError,
    ModelNotFound,
    OfflineModeError,
    StoreUnavailable,
    UnknownSource,
)

#: Leaves that cannot be raised without their facts, with a complete set of them.
REQUIRED_FACTS: dict[type[ModelFetchError], dict[str, Any]] = {
    UnknownSource: {"source": "nope", "available": ["default", "url"]},
    ModelNotFound: {"model_name": "resnet50"},
    OfflineModeError: {"model_name": "resnet50", "version": "v1", "variable": "HF_HUB_OFFLINE"},
    ModelExists: {"model_name": "resnet50", "version": "v1"},
    DownloadInProgress: {"model_name": "resnet50", "version": None},
    InsufficientStorage: {"required_bytes": 10, "available_bytes": 1},
    StoreUnavailable: {"url": "s3://bucket/models"},
    ChecksumMismatch: {
        "url": "https://example.invalid/m.bin",
        "path": "m.bin",
        "algorithm": "sha256",
        "expected": "0" * 64,
        "actual": "1" * 64,
    },
}


@pytest.mark.parametrize("cls", list(REQUIRED_FACTS), ids=lambda cls: cls.__name__)
def test_a_leaf_cannot_be_raised_without_its_facts(cls: type[ModelFetchError]) -> None:
    """A leaf whose callers read facts refuses to be built without them (no silent None)."""
    with pytest.raises(TypeError):
        cls("message")  # type: ignore[call-arg]
    error = cls("message", **REQUIRED_FACTS[cls])
    for name, value in REQUIRED_FACTS[cls].items():
        assert getattr(error, name) == value


def test_facts_are_keyword_only() -> None:
    """Facts are passed by name, so a positional mix-up of two digests cannot happen."""
    for cls, _status, _exit in ERROR_TABLE:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        assert parameters[0].name == "message"
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:]), cls


text = st.text(min_size=1, max_size=40)


@given(
    name=text,
    version=st.none() | text,
    required=st.none() | st.integers(min_value=0),
    available=st.none() | st.integers(min_value=0),
)
def test_errors_pickle_with_their_facts(
    name: str, version: str | None, required: int | None, available: int | None
) -> None:
    """Errors cross a process pool or job queue with their class, message and every fact."""
    for error in (
        ModelNotFound(f"{name} is missing", model_name=name, version=version, url=None),
        DownloadInProgress("busy", model_name=name, version=version),
        InsufficientStorage("full", required_bytes=required, available_bytes=available),
    ):
        clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own error object
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.facts == error.facts


def test_every_public_error_is_in_the_table() -> None:
    """Each public error maps to one REST status and one exit code (STYLE.md rule 8)."""
    public = {
        getattr(exceptions, name)
        for name in exceptions.__all__
        if isinstance(getattr(exceptions, name), type)
    }
    assert public == {cls for cls, _status, _exit in ERROR_TABLE}
