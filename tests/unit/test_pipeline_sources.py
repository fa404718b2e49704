"""A request's ``source`` is checked even when ``download_url`` decides where bytes come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_fetch import Downloader
from model_fetch.exceptions import UnknownSource

URL = "http://127.0.0.1:9/model.bin"


def test_unknown_source_with_download_url_is_refused_on_submit(store: Path) -> None:
    """``source: "nope"`` beside a ``download_url`` is a 400 (UnknownSource), not ignored."""
    with Downloader(store=store) as dl, pytest.raises(UnknownSource):
        dl.submit("m", "v1", download_url=URL, source="nope")


def test_unknown_source_with_download_url_is_refused_on_download(store: Path) -> None:
    """The blocking call refuses it too, before any connection is made."""
    with Downloader(store=store) as dl, pytest.raises(UnknownSource):
        dl.download("m", "v1", download_url=URL, source="nope")
