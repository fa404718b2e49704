"""The resume-or-restart decision: pure functions over frozen values, no I/O.

A partial download (see :mod:`._partial`) is resumed with ``Range: bytes=N-`` and
``If-Range: <validator>``. What the answer means:

- a ``206`` whose ``Content-Range`` starts at N is appended;
- a ``200`` means the file changed (or ranges are not supported): write it from byte zero;
- a ``206`` that starts anywhere else is never spliced, and a ``416`` refuses the range: the
  next attempt starts again from zero;
- a size other than the plan's is a final failure.

A parallel download (see :mod:`._parallel`) also records the byte ranges beyond the prefix that
are on disk; a later parallel attempt keeps them only when the validator and size still match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from model_fetch.transfer._ranges import check_content_range, usable_validator

if TYPE_CHECKING:
    from collections.abc import Mapping

    from model_fetch.transfer._ranges import Spans

__all__ = [
    "Answer",
    "Ask",
    "Body",
    "Decision",
    "Restart",
    "ResumeState",
    "SizeMismatch",
    "decide",
    "resume_request",
    "reusable_ranges",
]


@attrs.frozen(kw_only=True)
class ResumeState:
    """What a sidecar says about its partial file.

    Attributes:
        url: The file's URL without its query string.
        validator: The If-Range validator, or None (then the partial cannot be resumed).
        size: The file's full size, when known.
        completed: Bytes from the start that are on disk.
        ranges: Every byte range (start, end exclusive) on disk, from a parallel download;
            empty for a single stream, whose ``completed`` prefix says it all.
    """

    url: str
    validator: str | None
    size: int | None
    completed: int
    ranges: tuple[tuple[int, int], ...] = ()


@attrs.frozen(kw_only=True)
class Ask:
    """A resuming request: the rest of the file from ``start``, if it is still ``validator``."""

    start: int
    validator: str

    def headers(self) -> dict[str, str]:
        """The Range and If-Range headers that ask for it."""
        return {"Range": f"bytes={self.start}-", "If-Range": self.validator}


@attrs.frozen(kw_only=True)
class Answer:
    """What decides a resume in a server's answer.

    Attributes:
        status: The HTTP status.
        content_range: The Content-Range header, if any.
        length: The body's length (Content-Length), when given.
        validator: The answer's strong ETag or Last-Modified, if any.
    """

    status: int
    content_range: str | None = None
    length: int | None = None
    validator: str | None = None

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str]) -> Answer:
        """Read the answer's status and headers (a case-insensitive mapping)."""
        length = headers.get("Content-Length")
        return cls(
            status=status,
            content_range=headers.get("Content-Range"),
            length=int(length) if length and length.isdigit() else None,
            validator=usable_validator(headers.get("ETag"), headers.get("Last-Modified")),
        )


@attrs.frozen(kw_only=True)
class Body:
    """Write the body: it holds the file's bytes from ``start`` (0: from scratch).

    Attributes:
        start: The file offset of the body's first byte; bytes before it are kept.
        length: The body's length, when known.
        total: The file's size, when known.
        validator: The validator to record for a later resume.
    """

    start: int
    length: int | None
    total: int | None
    validator: str | None


@attrs.frozen
class Restart:
    """Retry from byte zero: the partial cannot be continued with this answer."""

    reason: str


@attrs.frozen(kw_only=True)
class SizeMismatch:
    """Fail: the file is not the size the plan expects."""

    total: int
    expected: int


Decision = Body | Restart | SizeMismatch


def resume_request(state: ResumeState | None, *, may_split: bool) -> Ask | None:
    """The ranged request a single-stream attempt sends, or None for a plain request.

    A partial resumes only with bytes on disk and a validator. One with ranges beyond its
    prefix comes from a parallel attempt: when another parallel attempt may follow
    (``may_split``), a plain probe decides whether those ranges still hold.
    """
    if state is None or state.validator is None or state.completed <= 0:
        return None
    if may_split and state.ranges:
        return None
    return Ask(start=state.completed, validator=state.validator)


def decide(ask: Ask | None, answer: Answer, *, expected_size: int | None) -> Decision | None:
    """Decide what to do with an answer to a plain (``ask`` None) or resuming request.

    Args:
        ask: The resume that was asked for, if any.
        answer: The server's answer.
        expected_size: The size the plan expects, if known.

    Returns:
        The decision, or None when the status is not about the body (an error status that the
        caller turns into its error).
    """
    status = answer.status
    if status == 416 and ask is not None:  # noqa: PLR2004 - Range Not Satisfiable
        return Restart("the server refused the resume range")
    if status == 206:  # noqa: PLR2004 - Partial Content
        start = ask.start if ask is not None else 0
        content_range = (
            check_content_range(answer.content_range, start=start, end=None, size=None)
            if ask is not None
            else None
        )
        if content_range is None:
            # Never splice bytes that do not start where the kept prefix ends.
            return Restart(f"the server answered a range that does not start at byte {start}")
        total = content_range.total
    elif status == 200:  # noqa: PLR2004 - OK: the whole file, whatever was asked
        start, total = 0, answer.length
    else:
        return None
    if expected_size is not None and total is not None and total != expected_size:
        return SizeMismatch(total=total, expected=expected_size)
    return Body(start=start, length=answer.length, total=total, validator=answer.validator)


def reusable_ranges(state: ResumeState | None, *, validator: str, size: int) -> Spans:
    """The ranges of a partial that a parallel download of this file may keep.

    Only ranges written under the same validator and size belong to this version of the file.
    """
    if state is None or (state.validator, state.size) != (validator, size):
        return ()
    return state.ranges
