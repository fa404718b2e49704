"""The mirror source passes model_fetch's conformance kit."""

from __future__ import annotations

import hashlib
from pathlib import Path  # noqa: TC003 - pytest resolves fixture annotations at run time

import pytest
from model_fetch_mirror_source import MirrorSource

from model_fetch import DownloadRequest
from model_fetch.testing import SourceConformance


class TestMirrorSource(SourceConformance):
    """Runs every conformance check against a mirror in a temporary directory."""

    @pytest.fixture
    def source_factory(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[MirrorSource]:
        mirror = tmp_path / "mirror" / "tiny"
        mirror.mkdir(parents=True)
        data = b"tiny model bytes" * 1000
        (mirror / "v1.bin").write_bytes(data)
        (mirror / "v1.bin.sha256").write_text(hashlib.sha256(data).hexdigest() + "  v1.bin\n")
        (mirror / "LATEST").write_text("v1\n")
        monkeypatch.setenv("MIRROR_SOURCE_URL", (tmp_path / "mirror").as_uri())
        return MirrorSource

    @pytest.fixture
    def existing_request(self) -> DownloadRequest:
        return DownloadRequest(model_name="tiny", version="latest")

    @pytest.fixture
    def missing_request(self) -> DownloadRequest:
        return DownloadRequest(model_name="absent", version="v1")
