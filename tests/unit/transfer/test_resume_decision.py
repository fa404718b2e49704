"""The resume-or-restart decision: what to ask for, and what an answer means, as pure rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from model_fetch.transfer._ranges import parse_content_range
from model_fetch.transfer._resume import (
    Answer,
    Ask,
    Body,
    Restart,
    ResumeState,
    SizeMismatch,
    decide,
    resume_request,
    reusable_ranges,
)
from strategies import (
    asks,
    byte_ranges,
    content_range,
    exchanges,
    resume_states,
    strong_etags,
    validators,
    weak_etags,
)

expected_sizes = st.one_of(st.none(), st.integers(0, 1 << 40))


@given(exchanges(), expected_sizes)
def test_bytes_are_never_spliced(exchange: tuple[Ask | None, Answer], expected: int | None) -> None:
    """A body is appended to a partial only as a 206 that starts exactly where the partial ends."""
    ask, answer = exchange
    decision = decide(ask, answer, expected_size=expected)
    if isinstance(decision, Body) and decision.start > 0:
        assert ask is not None
        assert answer.status == 206
        assert decision.start == ask.start
        parsed = parse_content_range(answer.content_range)
        assert parsed is not None
        assert parsed.start == ask.start


@given(exchanges(), expected_sizes)
def test_every_answer_has_one_meaning(
    exchange: tuple[Ask | None, Answer], expected: int | None
) -> None:
    """200 writes from zero, 416 to a resume restarts, other statuses are errors, never a body."""
    ask, answer = exchange
    decision = decide(ask, answer, expected_size=expected)
    if answer.status == 200:
        assert isinstance(decision, (Body, SizeMismatch))
        if isinstance(decision, Body):
            assert (decision.start, decision.total) == (0, answer.length)
    elif answer.status == 206:
        assert decision is not None
        if ask is None:
            assert isinstance(decision, Restart), "a 206 nobody asked for"
    elif answer.status == 416:
        assert isinstance(decision, Restart) if ask is not None else decision is None
    else:
        assert decision is None
    if isinstance(decision, Body):
        assert decision.validator == answer.validator
        assert decision.length == answer.length


@given(exchanges(), expected_sizes)
def test_a_size_other_than_the_plan_fails(
    exchange: tuple[Ask | None, Answer], expected: int | None
) -> None:
    """A body is accepted only when its file's size is the plan's (when both are known)."""
    ask, answer = exchange
    decision = decide(ask, answer, expected_size=expected)
    if isinstance(decision, Body) and expected is not None and decision.total is not None:
        assert decision.total == expected
    if isinstance(decision, SizeMismatch):
        assert expected is not None
        assert decision.expected == expected
        assert decision.total != expected


@given(asks, st.integers(1, 1 << 40), validators)
def test_a_matching_206_resumes(ask: Ask, extra: int, validator: str | None) -> None:
    """The answer a resume hopes for, the rest of the same file, is appended at the asked byte."""
    total = ask.start + extra
    answer = Answer(
        status=206,
        content_range=content_range(ask.start, total, total),
        length=extra,
        validator=validator,
    )
    assert decide(ask, answer, expected_size=total) == Body(
        start=ask.start, length=extra, total=total, validator=validator
    )


@given(asks, st.integers(1, 1 << 40), st.integers(1, 1 << 20))
def test_a_206_elsewhere_restarts(ask: Ask, extra: int, offset: int) -> None:
    """A 206 that starts anywhere but the end of the partial restarts from zero."""
    start = max(0, ask.start - offset) if offset % 2 else ask.start + offset
    total = max(ask.start, start) + extra
    answer = Answer(status=206, content_range=content_range(start, total, total))
    assert isinstance(decide(ask, answer, expected_size=None), Restart)


@given(resume_states, st.booleans())
def test_a_partial_resumes_only_with_bytes_and_a_validator(
    state: ResumeState, may_split: bool
) -> None:
    """Range + If-Range are sent for a prefix on disk with a validator, unless a probe decides."""
    ask = resume_request(state, may_split=may_split)
    usable = state.validator is not None and state.completed > 0
    if not usable or (may_split and state.ranges):
        assert ask is None
        return
    assert ask == Ask(start=state.completed, validator=state.validator)
    assert ask.headers() == {"Range": f"bytes={state.completed}-", "If-Range": state.validator}


def test_nothing_to_resume_is_a_plain_request() -> None:
    """Without a partial the first request is plain."""
    assert resume_request(None, may_split=False) is None


@given(resume_states, strong_etags, st.integers(0, 1 << 40))
def test_kept_ranges_belong_to_one_version(state: ResumeState, validator: str, size: int) -> None:
    """A parallel attempt keeps ranges only if written under the same validator and size."""
    kept = reusable_ranges(state, validator=validator, size=size)
    if (state.validator, state.size) == (validator, size):
        assert kept == state.ranges
    else:
        assert kept == ()
    same = ResumeState(url=state.url, validator=validator, size=size, completed=0, ranges=((0, 1),))
    assert reusable_ranges(same, validator=validator, size=size) == ((0, 1),)
    assert reusable_ranges(None, validator=validator, size=size) == ()


@given(byte_ranges(), strong_etags, weak_etags)
def test_answers_read_their_headers(r: tuple[int, int, int], strong: str, weak: str) -> None:
    """Answer.of reads status, Content-Range, a numeric length and a strong validator only."""
    start, end, size = r
    headers = {
        "Content-Range": content_range(start, end, size),
        "Content-Length": str(end - start),
        "ETag": strong,
    }
    assert Answer.of(206, headers) == Answer(
        status=206,
        content_range=headers["Content-Range"],
        length=end - start,
        validator=strong,
    )
    assert Answer.of(200, {"ETag": weak, "Content-Length": "12x"}) == Answer(status=200)
