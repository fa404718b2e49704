"""--allow-url prefixes hold against dot segments, on the first request and on redirect hops."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_fetch import Downloader, DownloadRequest
from model_fetch.exceptions import InvalidRequest
from model_fetch.transfer import UrlPolicy
from support.helpers import payload
from support.server import FileServer

SECRET = payload(10_000, seed=3)


@pytest.mark.parametrize("escape", ["../secret/blob.bin", "%2e%2e/secret/blob.bin"])
def test_dot_segments_never_reach_a_path_outside_the_prefix(
    store: Path, server: FileServer, escape: str
) -> None:
    """``/public/../secret/x`` is refused before the origin is asked for anything."""
    server.add_file("/secret/blob.bin", SECRET)
    policy = UrlPolicy(allow_private=True, allowlist=(server.url("/public/"),))
    request = DownloadRequest(
        model_name="m", version="v1", download_url=server.url("/public/" + escape)
    )
    with Downloader(store=store) as dl, pytest.raises(InvalidRequest, match="allowlist"):
        dl.run(request, url_policy=policy)
    assert server.requests == [], "the origin received no request"


def test_a_redirect_hop_is_compared_normalised(store: Path, server: FileServer) -> None:
    """A redirect from inside the prefix to ``/public/../secret/x`` is refused at that hop."""
    server.add_file("/secret/blob.bin", SECRET)
    server.add_redirect("/public/hop.bin", server.url("/public/../secret/blob.bin"))
    policy = UrlPolicy(allow_private=True, allowlist=(server.url("/public/"),))
    request = DownloadRequest(
        model_name="m", version="v1", download_url=server.url("/public/hop.bin")
    )
    with Downloader(store=store) as dl, pytest.raises(InvalidRequest, match="allowlist"):
        dl.run(request, url_policy=policy)
    assert server.requests_for("/secret/blob.bin") == []
