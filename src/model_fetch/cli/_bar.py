"""The terminal progress bar the ``download`` command draws on stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_fetch._models import Progress

__all__ = ["ProgressBar"]


class ProgressBar:
    """A tqdm bar fed by progress snapshots (bytes, speed, ETA and stage)."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm  # noqa: PLC0415 - only the CLI draws bars

        self._bar = tqdm(
            total=None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )
        self._stage = ""

    def __call__(self, snapshot: Progress) -> None:
        if snapshot.total_bytes and self._bar.total != snapshot.total_bytes:
            self._bar.total = snapshot.total_bytes
        self._bar.update(snapshot.downloaded_bytes - self._bar.n)
        stage: str = snapshot.current_stage
        if snapshot.bytes_from is not None:
            stage = f"{stage} from {snapshot.bytes_from}"
        if stage != self._stage:
            self._stage = stage
            self._bar.set_postfix_str(stage)

    def close(self) -> None:
        self._bar.close()
