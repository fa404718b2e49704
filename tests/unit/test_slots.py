"""The job queue's fairness rule: free slots, a per-host share, oldest first."""

from __future__ import annotations

from model_fetch._slots import FairSlots, host_share


def test_a_host_over_its_share_is_passed_by_another() -> None:
    """With two slots and a share of one, host B's job starts before host A's second."""
    started: list[str] = []
    slots: FairSlots[str] = FairSlots(2, host_share(2), started.append)
    slots.put("A", "a1")
    slots.put("A", "a2")
    slots.put("B", "b1")
    assert started == ["a1", "b1"]
    slots.finished("A")
    assert started == ["a1", "b1", "a2"]


def test_share_is_half_the_slots_rounded_up() -> None:
    """One host may hold half of the workers (all of a single one)."""
    assert [host_share(n) for n in (1, 2, 3, 4, 8)] == [1, 1, 2, 2, 4]
