"""Live progress over Server-Sent Events, against the real ``model-fetch serve``.

(Starlette's TestClient reads a whole body before it answers, so an endless stream needs a real
server.)
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import requests

from support.helpers import COMPLETED_KEYS, PROGRESS_KEYS, payload
from support.rest import RestServer, start_rest
from support.server import Fault, FileServer

PROGRESS_BODY_KEYS = {"status", "message", "download_id", "model_name", "version", "progress"}


@attrs.frozen
class Event:
    """One received event: its name, its JSON data and when it arrived."""

    name: str
    data: dict
    at: float


def events(response: requests.Response) -> Iterator[Event]:
    """Parse a text/event-stream body as it arrives (comments are skipped)."""
    name, data = "message", []
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if data:
                yield Event(name, json.loads("\n".join(data)), time.monotonic())
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    root = tmp_path_factory.mktemp("sse")
    server = start_rest(root, root / "store", "serve")
    try:
        yield server
    finally:
        server.stop()


def slow_url(files: FileServer, path: str, size: int = 300_000) -> str:
    files.add_file(path, payload(size, seed=len(path)), accept_ranges=False)
    files.queue(path, Fault(drip=(20_000, 0.1)))
    return files.url(path)


def start(rest: RestServer, name: str, url: str) -> str:
    body = {"model_name": name, "version": "v1", "download_url": url}
    answer = requests.post(f"{rest.url}/model-download?wait=0", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "started"
    return answer.json()["download_id"]


def test_job_stream_sends_progress_then_the_final_body_and_closes(
    rest: RestServer, files: FileServer
) -> None:
    """One job's stream: progress bodies at least once a second, then "completed", then EOF."""
    download_id = start(rest, "sse-one", slow_url(files, "/one.bin"))
    url = f"{rest.url}/model-download/{download_id}/events"
    with requests.get(url, stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        opened = time.monotonic()
        received = list(events(response))  # ends only because the server closes the stream
    *progress, final = received
    assert progress, received
    assert {event.name for event in progress} == {"progress"}
    for event in progress:
        assert set(event.data) == PROGRESS_BODY_KEYS
        assert set(event.data["progress"]) == PROGRESS_KEYS
        assert event.data["download_id"] == download_id
    percentages = [event.data["progress"]["percentage"] for event in progress]
    assert percentages == sorted(percentages)
    assert any(0 < value < 100 for value in percentages), percentages
    arrivals = [opened] + [event.at for event in received]
    assert max(b - a for a, b in itertools.pairwise(arrivals)) < 1.5
    assert final.name == "completed"
    assert list(final.data) == COMPLETED_KEYS
    polled = requests.get(f"{rest.url}/model-download/{download_id}/progress", timeout=5).json()
    assert final.data == polled


def test_job_stream_of_a_failed_job_is_one_failed_event(
    rest: RestServer, files: FileServer
) -> None:
    """A job that already failed streams its failed body (with status_code) and closes."""
    download_id = start(rest, "sse-missing", files.url("/no-such-file.bin"))
    url = f"{rest.url}/model-download/{download_id}/events"
    deadline = time.monotonic() + 10
    while requests.get(url.replace("/events", "/progress"), timeout=5).json()["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with requests.get(url, stream=True, timeout=10) as response:
        received = list(events(response))
    assert [event.name for event in received] == ["failed"]
    assert received[0].data["status_code"] == 404
    assert received[0].data["download_id"] == download_id


def test_unknown_download_has_no_stream(rest: RestServer) -> None:
    """An unknown id is a JSON 404 before any event."""
    response = requests.get(f"{rest.url}/model-download/dwnld_0000/events", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"detail": "Download 'dwnld_0000' not found"}


def test_all_jobs_stream_tags_every_body_and_stays_open(
    rest: RestServer, files: FileServer
) -> None:
    """The all-jobs stream carries every job's bodies with download_id, each ending once."""
    with requests.get(f"{rest.url}/model-download/events", stream=True, timeout=10) as response:
        assert response.status_code == 200
        ids = {
            start(rest, "sse-a", slow_url(files, "/a.bin", 200_000)),
            start(rest, "sse-b", slow_url(files, "/b.bin", 200_000)),
        }
        seen: dict[str, list[str]] = {download_id: [] for download_id in ids}
        stream = events(response)
        for event in stream:
            assert event.data["download_id"] in ids, event.data
            seen[event.data["download_id"]].append(event.name)
            if all(names[-1:] == ["completed"] for names in seen.values()):
                break
        for names in seen.values():
            assert "progress" in names
            assert names.count("completed") == 1
        # Still open: a download started now appears on the same stream.
        later = start(rest, "sse-c", slow_url(files, "/c.bin", 60_000))
        assert next(stream).data["download_id"] == later


def test_a_new_all_jobs_stream_shows_running_downloads_at_once(
    rest: RestServer, files: FileServer
) -> None:
    """A reloaded page gets the downloads already running in its first events."""
    download_id = start(rest, "sse-running", slow_url(files, "/running.bin"))
    with requests.get(f"{rest.url}/model-download/events", stream=True, timeout=10) as response:
        opened = time.monotonic()
        # Downloads other tests left running may come first; ours is in the first round.
        first = next(e for e in events(response) if e.data["download_id"] == download_id)
    assert first.at - opened < 1.0
    assert first.name == "progress"
    assert first.data["status"] == "downloading"


def test_open_streams_do_not_hold_up_shutdown(tmp_path: Path, files: FileServer) -> None:
    """SIGINT stops the server promptly even with an event stream open."""
    server = start_rest(tmp_path, tmp_path / "store", "stop")
    try:
        response = requests.get(f"{server.url}/model-download/events", stream=True, timeout=10)
        lines = response.iter_lines()
        assert next(lines) == b": connected"
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < 5
        assert server.process.returncode is not None
        assert list(lines) in ([], [b""])
        response.close()
    finally:
        server.stop()
