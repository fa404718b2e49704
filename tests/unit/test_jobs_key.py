"""The dedupe key of a job: derived from the request's fields, never from a hand-written list."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from model_fetch import DownloadOptions, DownloadRequest
from model_fetch._jobs import _request_key
from strategies import OPTION_FIELDS, REQUEST_FIELDS, requests

#: The fields that must not change a job's outcome: requests differing only there share a job.
#: Transfer settings (timeout, retry_count, connections, parallel_min_size) are not among them:
#: they decide whether a download fails, so they split jobs (docs/decisions.md).
SHARED = frozenset({"metadata", "if_exists", "chunk_size"})

_FIELDS = [("request", name) for name in REQUEST_FIELDS] + [
    ("options", name) for name in OPTION_FIELDS
]


def _changed(request: DownloadRequest, where: str, name: str, value: Any) -> DownloadRequest:
    if where == "options":
        return attrs.evolve(request, options=attrs.evolve(request.options, **{name: value}))
    return attrs.evolve(request, **{name: value})


def test_every_field_has_a_strategy() -> None:
    """A new request or option field cannot escape the key tests (it needs a strategy here)."""
    request_fields = {field.name for field in attrs.fields(DownloadRequest)} - {"options"}
    assert request_fields == set(REQUEST_FIELDS)
    assert {field.name for field in attrs.fields(DownloadOptions)} == set(OPTION_FIELDS)


@given(requests, st.sampled_from(_FIELDS), st.data())
def test_key_tells_outcome_fields_apart(
    request: DownloadRequest, field: tuple[str, str], data: st.DataObject
) -> None:
    """Two requests differing in a field that changes the outcome never share one job."""
    where, name = field
    strategy = OPTION_FIELDS[name] if where == "options" else REQUEST_FIELDS[name]
    current = getattr(request.options if where == "options" else request, name)
    other = _changed(request, where, name, data.draw(strategy))
    if getattr(other.options if where == "options" else other, name) == current:
        return  # drew the same value: nothing differs
    key, other_key = _request_key(request), _request_key(other)
    hash(key)
    if name in SHARED:
        assert key == other_key, f"{name} must not split a job"
    else:
        assert key != other_key, f"requests differing in {name} must not share a job"


@given(requests, st.data())
def test_key_ignores_every_non_outcome_field_at_once(
    request: DownloadRequest, data: st.DataObject
) -> None:
    """Requests differing only in metadata, if_exists and chunk_size share one job."""
    other = attrs.evolve(
        request,
        metadata=data.draw(REQUEST_FIELDS["metadata"]),
        if_exists=data.draw(REQUEST_FIELDS["if_exists"]),
        options=attrs.evolve(request.options, chunk_size=data.draw(OPTION_FIELDS["chunk_size"])),
    )
    assert _request_key(request) == _request_key(other)


def test_cleanup_and_torchscript_are_in_the_key() -> None:
    """The two fields the old hand-written key left out now split jobs (issue 13)."""
    base = DownloadRequest(model_name="m", version="v1", download_url="https://h.example/m.bin")
    for option, value in (("cleanup_temp_files", False), ("allow_torchscript", True)):
        changed = attrs.evolve(base, options=attrs.evolve(base.options, **{option: value}))
        assert _request_key(base) != _request_key(changed), option
