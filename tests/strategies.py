"""Hypothesis strategies shared across tests."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from model_fetch._models import FileRecord
from model_fetch._paths import (
    NAME_PATTERN,
    SEGMENT_CHARS,
    VERSION_PATTERN,
    validate_name,
    validate_relpath,
    validate_version,
)
from model_fetch.exceptions import InvalidRequest
from model_fetch.storage import InstallRecord
from model_fetch.transfer._resume import Answer, Ask, ResumeState

if TYPE_CHECKING:
    from collections.abc import Callable


# -- storage: every valid name, version and file path, install records ------------------------
def _passes(check: Callable[[str], object]) -> Callable[[str], bool]:
    """A filter keeping the values ``check`` accepts."""

    def accepted(value: str) -> bool:
        try:
            check(value)
        except InvalidRequest:
            return False
        return True

    return accepted


#: Every model name the validator accepts (the whole alphabet, ``org/name`` included).
any_model_names = st.from_regex(NAME_PATTERN, fullmatch=True).filter(_passes(validate_name))
#: Every version the validator accepts (``refs/pr/1`` included).
any_versions = st.from_regex(VERSION_PATTERN, fullmatch=True).filter(_passes(validate_version))
_relpath_segment = st.from_regex(rf"[{SEGMENT_CHARS}]{{1,16}}", fullmatch=True).filter(
    lambda segment: segment not in {".", ".."}
)
#: Relative file paths inside a model, as a source lists them (1 to 4 segments).
relpaths = (
    st.lists(_relpath_segment, min_size=1, max_size=4)
    .map("/".join)
    .filter(_passes(validate_relpath))
)
sha256_hex = st.binary(min_size=32, max_size=32).map(bytes.hex)
file_records = st.builds(FileRecord, path=relpaths, size=st.integers(0, 1 << 40), sha256=sha256_hex)
#: Committed generation directory names (``g-`` and 16 hex digits).
generations = st.binary(min_size=8, max_size=8).map(lambda raw: "g-" + raw.hex())
#: Moments as the record stores them: UTC, whole milliseconds.
record_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
_json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)
)


@st.composite
def install_records(draw: st.DrawFn) -> InstallRecord:
    """Committed install records whose JSON documents round-trip."""
    files = draw(st.lists(file_records, min_size=1, max_size=4))
    paths = [file.path for file in files]
    name = draw(any_model_names)
    version = draw(any_versions)
    return InstallRecord(
        name=name,
        version=version,
        source=draw(st.sampled_from(["default", "huggingface", "local", "url"])),
        download_url=draw(st.sampled_from(["https://example.com/m.bin", "s3://bucket/key"])),
        files=tuple(files),
        installed_at=draw(record_times),
        metadata=draw(st.dictionaries(st.text(max_size=8), _json_values, max_size=3)),
        model_id=f"{name}_{version}".replace("/", "--"),
        readiness=draw(
            st.sampled_from(
                [{"checked": None, "reason": "not checked"}, {"checked": "onnx", "reason": None}]
            )
        ),
        ready_for_inference=draw(st.booleans()),
        checksum_verified=draw(st.booleans()),
        generation=draw(generations),
        primary=draw(st.none() | st.sampled_from(paths)),
        # An empty listing is written as [] and read back as None ("predates listings").
        listing=draw(st.none() | st.lists(relpaths, min_size=1, max_size=4).map(tuple)),
        archives=draw(st.lists(relpaths, max_size=2).map(tuple)),
    )


# -- transfer: byte ranges, validators, Content-Range headers, resume states ------------------
#: File sizes, from empty to past 4 GiB (offsets that need more than 32 bits).
file_sizes = st.integers(min_value=0, max_value=1 << 40)
#: Strong ETags: the only ETags If-Range may carry.
strong_etags = st.binary(min_size=1, max_size=8).map(lambda tag: f'"{tag.hex()}"')
#: Weak ETags, which must never be sent as a validator.
weak_etags = strong_etags.map(lambda tag: f"W/{tag}")
#: Last-Modified values (an HTTP date).
last_modified = st.integers(0, 4_000_000_000).map(
    lambda seconds: email.utils.formatdate(seconds, usegmt=True)
)
#: What a server may send as a validator, or nothing.
validators = st.one_of(st.none(), strong_etags, last_modified)


@st.composite
def byte_ranges(draw: st.DrawFn, size: int | None = None) -> tuple[int, int, int]:
    """``(start, end, size)``: a non-empty range ``[start, end)`` of a file of ``size`` bytes."""
    total = size if size is not None else draw(st.integers(1, 1 << 40))
    start = draw(st.integers(0, total - 1))
    end = draw(st.integers(start + 1, total))
    return start, end, total


@st.composite
def spans(draw: st.DrawFn, size: int) -> tuple[tuple[int, int], ...]:
    """Sorted, disjoint, non-touching, non-empty ranges within ``[0, size)``."""
    cuts = sorted(draw(st.sets(st.integers(0, size), max_size=8)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return tuple((start, end) for start, end in pairs if end > start)


def content_range(start: int, end: int, total: int | None) -> str:
    """A well-formed ``Content-Range`` for ``[start, end)`` (``*`` when the total is None)."""
    return f"bytes {start}-{end - 1}/{'*' if total is None else total}"


#: Content-Range headers as servers send them, well-formed or not.
content_range_headers = st.one_of(
    st.none(),
    byte_ranges().map(lambda r: content_range(*r)),
    st.builds(content_range, st.integers(0, 1 << 20), st.integers(1, 1 << 20), st.none()),
    st.text(max_size=40),
    st.builds(
        "bytes {}-{}/{}".format,
        st.integers(0, 999),
        st.integers(0, 999),
        st.one_of(st.integers(0, 999), st.just("*")),
    ),
)

#: Sidecar states a resume may start from.
resume_states = st.builds(
    ResumeState,
    url=st.just("https://models.example/model.bin"),
    validator=validators,
    size=st.one_of(st.none(), st.integers(0, 1 << 40)),
    completed=st.integers(0, 1 << 40),
    ranges=st.one_of(st.just(()), spans(1 << 20)),
)
#: Resuming requests.
asks = st.builds(
    Ask, start=st.integers(1, 1 << 40), validator=st.one_of(strong_etags, last_modified)
)
#: Answers to a plain or resuming request.
answers = st.builds(
    Answer,
    status=st.sampled_from([200, 206, 416, 404, 500, 503, 304, 412]),
    content_range=content_range_headers,
    length=st.one_of(st.none(), st.integers(0, 1 << 40)),
    validator=validators,
)


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[Ask | None, Answer]:
    """A request (plain or resuming) and an answer whose range often lies near the asked byte."""
    ask = draw(st.one_of(st.none(), asks))
    answer = draw(answers)
    if ask is not None and draw(st.booleans()):
        start = ask.start + draw(st.integers(-1, 1))
        end = start + draw(st.integers(1, 1 << 20))
        total = draw(st.one_of(st.none(), st.integers(end, end + 2)))
        status = draw(st.sampled_from([206, 206, 200, 416]))
        answer = Answer(
            status=status,
            content_range=content_range(start, end, total),
            length=answer.length,
            validator=answer.validator,
        )
    return ask, answer
