"""Cooperative cancellation: the pipeline checks an event at its safe points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model_fetch.exceptions import DownloadCancelled

if TYPE_CHECKING:
    import threading

__all__ = ["check_cancelled"]


def check_cancelled(cancel: threading.Event | None) -> None:
    """Raise DownloadCancelled if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled("Download cancelled")
