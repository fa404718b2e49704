"""Small helpers shared by the tests: a fake clock, test payloads and store inspection."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from pathlib import Path


@attrs.define
class FakeClock:
    """A clock whose sleep returns at once and only advances the time (records every sleep)."""

    now: float = 1000.0
    sleeps: list[float] = attrs.field(factory=list)

    def monotonic(self) -> float:
        """Return the fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time instead of waiting."""
        self.sleeps.append(seconds)
        self.now += seconds


def payload(size: int = 300_000, seed: int = 1) -> bytes:
    """Deterministic, incompressible-looking bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def installed_files(store: Path) -> list[Path]:
    """Every regular file under the store's models/ directory."""
    root = store / "models"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def stray_files(store: Path) -> list[Path]:
    """Files left in the staging area."""
    root = store / ".staging"
    return sorted(p for p in root.rglob("*")) if root.exists() else []


#: The contract's "Download Completed" keys, in the contract's order.
#: The repository root (examples/, docs/, src/ are under it).
REPO = Path(__file__).resolve().parents[2]

COMPLETED_KEYS = [
    "status",
    "message",
    "model_name",
    "version",
    "file_path",
    "file_size_mb",
    "download_duration_seconds",
    "checksum_verified",
    "installation",
]

#: The contract's progress object keys.
PROGRESS_KEYS = frozenset(
    {"percentage", "downloaded_mb", "total_mb", "speed_mbps", "eta_seconds", "current_stage"}
)
