"""Hypothesis strategies shared across tests."""

from __future__ import annotations

import email.utils

from hypothesis import strategies as st

from model_fetch.transfer._resume import Answer, Ask, ResumeState

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
