"""The REST API's own caps on a download body, judged without a server (the app's conversion)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the http extra")

from model_fetch.exceptions import InvalidRequest
from model_fetch.http import ServerSettings
from model_fetch.http._app import _to_request
from model_fetch.http._schemas import CAPS, DownloadBody

CAP = CAPS["metadata_bytes"]


def _convert(metadata: dict[str, object]) -> None:
    _to_request(DownloadBody(model_name="m", metadata=metadata), ServerSettings())


def test_metadata_cap_counts_utf8_bytes_not_escapes() -> None:
    """30 KB of non-ASCII text (as UTF-8) fits the 64 KiB cap; it was counted as escapes."""
    text = "é" * 15_000  # 30,000 bytes as UTF-8, 90,000 characters as escapes
    _convert({"note": text})


def test_metadata_over_the_cap_in_utf8_bytes_is_refused() -> None:
    """Metadata whose UTF-8 JSON is over 64 KiB is a 400, however it is spelled."""
    with pytest.raises(InvalidRequest, match="metadata is larger"):
        _convert({"note": "é" * (CAP // 2 + 10)})
