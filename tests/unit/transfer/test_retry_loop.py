"""The one retry loop and its budget: progress resets it, backoff grows, Retry-After wins."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_fetch.exceptions import DownloadCancelled
from model_fetch.transfer._retry import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Retry,
    Retryable,
    backoff_delay,
    parse_retry_after,
    run_with_retries,
)
from support.helpers import FakeClock


class Failed(Exception):
    """What give_up builds in these tests."""


def _give_up(exc: Retryable, retry: Retry) -> BaseException:
    return Failed(f"{retry.attempts}: {exc.reason}")


@given(st.integers(0, 10), st.integers(1, 20))
def test_fruitless_failures_spend_the_budget(retries: int, failures: int) -> None:
    """Failures at the same position exhaust the budget after ``retries`` retries."""
    retry = Retry(retries=retries)
    for _ in range(failures):
        retry = retry.failed(0)
    assert retry.attempts == failures
    assert retry.exhausted == (failures > retries)


@given(st.integers(0, 5), st.lists(st.integers(0, 100), min_size=1, max_size=30), st.booleans())
def test_progress_resets_the_budget(retries: int, steps: list[int], free: bool) -> None:
    """Only failures since the last attempt that got further count (that one too, unless free)."""
    retry = Retry(retries=retries, progress_is_free=free)
    position = since_progress = 0
    for step in steps:
        position += step
        progressed = position > retry.furthest
        retry = retry.failed(position)
        since_progress = (0 if free else 1) if progressed else since_progress + 1
        assert retry.fruitless == since_progress
        assert retry.furthest == position
    assert retry.exhausted == (since_progress > retries)


def test_zero_retries_is_one_attempt_of_a_whole_file() -> None:
    """retry_count=0: a whole file gets one attempt even when it made progress."""
    assert Retry(retries=0).failed(1000).exhausted
    assert not Retry(retries=0, progress_is_free=True).failed(1000).exhausted


@given(st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_backoff_grows_with_equal_jitter(number: int, seed: int) -> None:
    """The n-th retry waits between half and all of 0.5 s x 2^(n-1), capped at 30 s."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (number - 1))
    delay = backoff_delay(number, None, random.Random(seed))  # noqa: S311 - seeded jitter
    assert ceiling / 2 <= delay <= ceiling


@given(st.integers(1, 40), st.floats(min_value=-10, max_value=10_000, allow_nan=False))
def test_retry_after_wins_up_to_its_cap(number: int, asked: float) -> None:
    """A server's Retry-After is obeyed, never below zero nor above five minutes."""
    assert backoff_delay(number, asked) == max(0.0, min(asked, RETRY_AFTER_CAP))


def test_a_segment_retries_at_once() -> None:
    """Without backoff the next attempt follows at once, whatever the server asked."""
    assert Retry(retries=3, backoff=False).failed(0).delay(7.0) == 0.0


@given(st.integers(0, 10**6))
def test_retry_after_seconds_and_dates(seconds: int) -> None:
    """Retry-After as delta seconds or as an HTTP date gives the seconds to wait."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_retry_after(str(seconds)) == float(seconds)
    when = (now + dt.timedelta(seconds=seconds)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(when, now) == float(seconds)
    past = (now - dt.timedelta(seconds=seconds + 1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(past, now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    """A Retry-After that is neither seconds nor a date is ignored (backoff applies)."""
    assert parse_retry_after(value) is None


def test_the_loop_returns_the_first_success_after_backoff() -> None:
    """Retryable failures are retried after growing waits on the injected clock."""
    clock = FakeClock()
    outcomes: list[object] = [Retryable("reset"), Retryable("503", 7.0), "done"]

    def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return str(outcome)

    result = run_with_retries(
        attempt,
        Retry(retries=5),
        reached=lambda: 0,
        give_up=_give_up,
        clock=clock,
        rng=random.Random(1),  # noqa: S311 - seeded jitter
    )
    assert result == "done"
    assert len(clock.sleeps) == 2
    assert BACKOFF_BASE / 2 <= clock.sleeps[0] <= BACKOFF_BASE
    assert clock.sleeps[1] == 7.0, "Retry-After"


def test_the_loop_gives_up_with_the_last_failure_as_cause() -> None:
    """When the budget runs out, give_up's error is raised, chained to the last failure."""
    clock = FakeClock()
    last = Retryable("still down")

    def attempt() -> None:
        raise last

    with pytest.raises(Failed) as caught:
        run_with_retries(
            attempt, Retry(retries=2), reached=lambda: 0, give_up=_give_up, clock=clock
        )
    assert str(caught.value) == "3: still down"
    assert caught.value.__cause__ is last
    assert len(clock.sleeps) == 2


def test_other_errors_end_the_loop_at_once() -> None:
    """An error that is not Retryable is raised as is, with no retry and no wait."""
    clock = FakeClock()
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise ValueError("final")

    with pytest.raises(ValueError, match="final"):
        run_with_retries(
            attempt, Retry(retries=9), reached=lambda: 0, give_up=_give_up, clock=clock
        )
    assert calls == [1]
    assert clock.sleeps == []


def test_a_cancel_stops_retrying_before_the_wait() -> None:
    """A cancel during a failing attempt stops the loop instead of waiting for the next one."""
    clock = FakeClock()
    cancel = threading.Event()

    def attempt() -> None:
        cancel.set()
        raise Retryable("reset")

    with pytest.raises(DownloadCancelled):
        run_with_retries(
            attempt,
            Retry(retries=9),
            reached=lambda: 0,
            give_up=_give_up,
            clock=clock,
            cancel=cancel,
        )
    assert clock.sleeps == []


def test_progress_keeps_a_segment_going() -> None:
    """A segment that gets further on every attempt is retried however small its budget."""
    position = [0]

    def attempt() -> str:
        position[0] += 10
        if position[0] < 100:
            raise Retryable("cut")
        return "whole"

    retry = Retry(retries=0, backoff=False, progress_is_free=True)
    assert run_with_retries(attempt, retry, reached=lambda: position[0], give_up=_give_up) == (
        "whole"
    )
