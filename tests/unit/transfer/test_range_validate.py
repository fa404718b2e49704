"""The one judge of a ranged answer: bytes are placed only when they are the range asked for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from model_fetch.transfer._ranges import (
    ContentRange,
    check_content_range,
    parse_content_range,
    usable_validator,
)
from strategies import (
    byte_ranges,
    content_range,
    content_range_headers,
    last_modified,
    strong_etags,
    weak_etags,
)


@given(byte_ranges(), st.booleans())
def test_the_exact_range_is_accepted(asked: tuple[int, int, int], star: bool) -> None:
    """A 206 of exactly the bytes asked for, naming the file's size or ``*``, is placed."""
    start, end, size = asked
    header = content_range(start, end, None if star else size)
    assert check_content_range(header, start=start, end=end, size=size) == ContentRange(
        start, end - 1, None if star else size
    )


@given(content_range_headers, byte_ranges(), st.booleans(), st.booleans())
def test_whatever_is_accepted_is_what_was_asked(
    header: str | None, asked: tuple[int, int, int], open_ended: bool, size_known: bool
) -> None:
    """No header, however odd, gets bytes placed anywhere but the asked start, end and size."""
    start, end, size = asked
    accepted = check_content_range(
        header, start=start, end=None if open_ended else end, size=size if size_known else None
    )
    if accepted is None:
        return
    assert accepted.start == start
    if not open_ended:
        assert accepted.end == end - 1
    if size_known:
        assert accepted.total in (None, size)
    assert accepted.total is None or accepted.end < accepted.total


@given(byte_ranges(), st.integers(1, 1 << 20), st.booleans())
def test_a_shifted_range_is_refused(asked: tuple[int, int, int], shift: int, later: bool) -> None:
    """A range that starts before or after the asked byte is never spliced in."""
    start, end, size = asked
    moved = start + shift if later else start - shift
    if moved < 0:
        return
    header = content_range(moved, max(end, moved + 1), None)
    assert check_content_range(header, start=start, end=None, size=None) is None
    assert check_content_range(header, start=start, end=end, size=size) is None


@given(byte_ranges(), st.integers(1, 1 << 20))
def test_another_size_is_refused(asked: tuple[int, int, int], grow: int) -> None:
    """A range of another version of the file (another total size) is refused."""
    start, end, size = asked
    header = content_range(start, end, size + grow)
    assert check_content_range(header, start=start, end=end, size=size) is None


@given(st.text(max_size=60))
def test_parsing_never_raises(header: str) -> None:
    """Any Content-Range text parses to a valid range or to None, never an exception."""
    parsed = parse_content_range(header)
    if parsed is not None:
        assert 0 <= parsed.start <= parsed.end
        assert parsed.total is None or parsed.end < parsed.total


@given(byte_ranges())
def test_parsing_round_trips(asked: tuple[int, int, int]) -> None:
    """A formatted range parses back to itself, whatever the case and spacing."""
    start, end, size = asked
    assert parse_content_range(f"  BYTES {start}-{end - 1}/{size} ") == ContentRange(
        start, end - 1, size
    )


@given(strong_etags, weak_etags, last_modified)
def test_validators_prefer_a_strong_etag(strong: str, weak: str, date: str) -> None:
    """If-Range gets a strong ETag, else Last-Modified; a weak ETag is never used."""
    assert usable_validator(strong, date) == strong
    assert usable_validator(weak, date) == date
    assert usable_validator(weak, None) is None
    assert usable_validator(None, None) is None
