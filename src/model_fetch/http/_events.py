"""Live progress as Server-Sent Events: one job's stream, and one stream for every job.

Both streams carry the progress endpoint's bodies. A ``progress`` event is sent when a snapshot
changes, and at least once a second while a job runs; the final body goes out as a ``completed``
or ``failed`` event. The per-job stream then closes; the all-jobs stream tags every body with its
``download_id`` and stays open. Both end when the server shuts down (``closing`` is set), so an
open stream never holds up a restart.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final

import anyio
from fastapi.sse import ServerSentEvent

if TYPE_CHECKING:
    import threading
    from collections.abc import AsyncIterator

    from model_fetch._jobs import DownloadJob, JobManager

__all__ = ["FINAL_EVENTS", "all_job_events", "job_events"]

#: How often the streams look at the jobs, in seconds.
TICK: Final = 0.25
#: A running job's snapshot is repeated at least this often, in seconds, even when unchanged.
REPEAT: Final = 1.0
#: Event names that end a job: the body's status.
FINAL_EVENTS: Final = frozenset({"completed", "failed"})


class _Sender:
    """Decides which snapshots are worth sending: changed ones, or unchanged after REPEAT."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[str, float]] = {}

    def event(self, key: str, body: dict[str, Any]) -> ServerSentEvent | None:
        status = body.get("status", "")
        if status in FINAL_EVENTS:
            self.last.pop(key, None)
            return ServerSentEvent(event=status, data=body)
        text = json.dumps(body, sort_keys=True)
        now = time.monotonic()
        previous = self.last.get(key)
        if previous is not None and previous[0] == text and now - previous[1] < REPEAT:
            return None
        self.last[key] = (text, now)
        return ServerSentEvent(event="progress", data=body)


async def job_events(job: DownloadJob, closing: threading.Event) -> AsyncIterator[ServerSentEvent]:
    """One job's snapshots, then its final body as a ``completed`` or ``failed`` event."""
    sender = _Sender()
    while not closing.is_set():
        body = job.to_dict()
        event = sender.event(job.download_id, body)
        if event is not None:
            yield event
            if event.event in FINAL_EVENTS:
                return
        await anyio.sleep(TICK)


async def all_job_events(
    jobs: JobManager, closing: threading.Event
) -> AsyncIterator[ServerSentEvent]:
    """Every job's snapshots, each tagged with its ``download_id``; open until the client leaves.

    Jobs that had finished before the stream opened are not replayed; every job that runs while
    it is open gets its final event, even one that started and finished between two looks.
    """
    finished = {job.download_id for job in jobs.jobs() if job.done}
    sender = _Sender()
    yield ServerSentEvent(comment="connected")
    while not closing.is_set():
        current = jobs.jobs()
        finished &= {job.download_id for job in current}  # forget what the manager forgot
        for job in current:
            if job.download_id in finished:
                continue
            body = {"download_id": job.download_id, **job.to_dict()}
            event = sender.event(job.download_id, body)
            if event is None:
                continue
            if event.event in FINAL_EVENTS:
                finished.add(job.download_id)
            yield event
        await anyio.sleep(TICK)
