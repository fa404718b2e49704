"""A job's progress snapshot: never backwards in bytes, whatever a retry or new stage reports."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from model_fetch import DownloadRequest, Progress
from model_fetch._jobs import _Work

_progress = st.builds(
    Progress,
    percentage=st.floats(0, 100),
    downloaded_bytes=st.integers(0, 1 << 40),
    total_bytes=st.integers(0, 1 << 40),
    current_stage=st.sampled_from(["downloading", "verifying", "installing"]),
    bytes_from=st.sampled_from([None, "mirror", "origin"]),
)


@given(st.lists(_progress, min_size=1, max_size=8))
def test_bytes_never_run_backwards_and_other_fields_follow(snapshots: list[Progress]) -> None:
    """Clients polling a job see downloaded bytes only grow; stage and the rest are the latest."""
    work = _Work(DownloadRequest(model_name="m"), None)
    most = 0
    for snapshot in snapshots:
        work.on_progress(snapshot)
        most = max(most, snapshot.downloaded_bytes)
        assert work.progress == attrs.evolve(snapshot, downloaded_bytes=most)
