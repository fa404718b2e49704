"""A conformance kit for source plugin authors (needs pytest).

Subclass :class:`SourceConformance` in your own test suite and define three fixtures; pytest then
runs every check below against your source, through a real :class:`~model_fetch.Downloader`::

    import pytest
    from model_fetch import DownloadRequest
    from model_fetch.testing import SourceConformance
    from my_plugin import MySource

    class TestMySource(SourceConformance):
        @pytest.fixture
        def source_factory(self):
            return MySource

        @pytest.fixture
        def existing_request(self):
            return DownloadRequest(model_name="tiny", version="v1")

        @pytest.fixture
        def missing_request(self):
            return DownloadRequest(model_name="no-such-model", version="v1")

Your fixtures may use others (a local server, ``tmp_path``, ``monkeypatch``) to set up what the
source reads. The files the existing request plans must be fetchable from the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from model_fetch._downloader import Downloader
from model_fetch._models import DownloadRequest, Plan
from model_fetch.exceptions import ModelNotFound

if TYPE_CHECKING:
    from collections.abc import Iterator

    from model_fetch.sources import Source, SourceFactory

__all__ = ["UNDER_TEST", "SourceConformance"]

#: The name the source under test is registered under inside the kit's downloader.
UNDER_TEST = "under-test"


class SourceConformance:
    """The checks every source must pass.

    Define ``source_factory``, ``existing_request`` and ``missing_request`` fixtures in a
    subclass (see the module docstring).
    """

    @pytest.fixture
    def conformance_downloader(
        self,
        tmp_path: Path,
        source_factory: SourceFactory,
    ) -> Iterator[Downloader]:
        """A downloader with a fresh store and the source under test registered."""
        with Downloader(
            store=tmp_path / "conformance-store",
            sources={UNDER_TEST: source_factory},
        ) as downloader:
            yield downloader

    @pytest.fixture
    def source_under_test(self, conformance_downloader: Downloader) -> Source:
        """The source instance, built with the downloader's context."""
        return conformance_downloader.source(UNDER_TEST)

    @staticmethod
    def _retarget(request: DownloadRequest) -> DownloadRequest:
        return attrs.evolve(request, source=UNDER_TEST, download_url=None)

    def test_plan_lists_safe_files(
        self,
        source_under_test: Source,
        existing_request: DownloadRequest,
    ) -> None:
        """The plan names at least one file, with validated paths and a concrete version."""
        plan = source_under_test.plan(self._retarget(existing_request))
        assert isinstance(plan, Plan)
        assert plan.files
        assert plan.version
        for file in plan.files:
            assert not file.path.startswith("/")
            assert ".." not in file.path.split("/")
            assert file.size is None or file.size >= 0

    def test_plan_is_stable(
        self,
        source_under_test: Source,
        existing_request: DownloadRequest,
    ) -> None:
        """Planning the same request twice gives the same plan."""
        request = self._retarget(existing_request)
        assert source_under_test.plan(request) == source_under_test.plan(request)

    def test_missing_model_is_not_found(
        self,
        source_under_test: Source,
        missing_request: DownloadRequest,
    ) -> None:
        """A model the source does not have raises ModelNotFound (404)."""
        with pytest.raises(ModelNotFound):
            source_under_test.plan(self._retarget(missing_request))

    def test_planning_writes_nothing_to_the_store(
        self,
        conformance_downloader: Downloader,
        source_under_test: Source,
        existing_request: DownloadRequest,
    ) -> None:
        """Sources never write to the store; only the pipeline does."""
        source_under_test.plan(self._retarget(existing_request))
        assert conformance_downloader.list_models() == []
        models = Path(conformance_downloader.store.root) / "models"
        assert not models.exists() or not any(models.iterdir())

    def test_download_installs_the_planned_files(
        self,
        conformance_downloader: Downloader,
        source_under_test: Source,
        existing_request: DownloadRequest,
    ) -> None:
        """Downloading through the source installs exactly the planned files, verified if it can."""
        request = self._retarget(existing_request)
        plan = source_under_test.plan(request)
        result = conformance_downloader.run(request)
        assert result.version == plan.version
        info = conformance_downloader.info(result.model_name, result.version)
        assert sorted(f.path for f in info.files) == sorted(f.path for f in plan.files)
        sizes: dict[str, int | None] = {f.path: f.size for f in plan.files}
        for file in info.files:
            assert sizes[file.path] in (None, file.size)
        assert result.checksum_verified == all(f.verifiable for f in plan.files)

    def test_second_download_is_reused(
        self,
        conformance_downloader: Downloader,
        existing_request: DownloadRequest,
    ) -> None:
        """Once installed, the same request is served from the store."""
        request = self._retarget(existing_request)
        first = conformance_downloader.run(request)
        second = conformance_downloader.run(attrs.evolve(request, version=first.version))
        assert second.reused
        assert second.file_path == first.file_path
