"""Collect README.md and docs/*.md as tests: every python and bash block runs (DEVELOPERS.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sybil import Sybil

from support.docs_harness import DocsWorld, ExampleParser, document_environment, s3_buckets
from support.s3 import session_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from support.docs_harness import DocsEnv
    from support.s3 import MotoServer


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One moto S3 server (its own process) for the session: for the tests and the docs' pages."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    yield from session_server()


@pytest.fixture(scope="session")
def docs_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsWorld]:
    """The local servers behind every documentation example."""
    world = DocsWorld(tmp_path_factory.mktemp("docs-world"))
    try:
        yield world
    finally:
        world.close()


@pytest.fixture(scope="module")
def docs_env(
    docs_world: DocsWorld, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[DocsEnv]:
    """One document's environment: a fresh home, store and working directory (and S3 buckets)."""
    buckets = s3_buckets(request.path.read_text(encoding="utf-8"), str(request.path))
    s3 = request.getfixturevalue("moto") if buckets else None
    with document_environment(docs_world, tmp_path_factory.mktemp("doc"), s3, buckets) as env:
        yield env


pytest_collect_file = Sybil(
    parsers=[ExampleParser()],
    patterns=["README.md", "docs/*.md", "docs/**/*.md"],
    fixtures=["docs_env"],
).pytest()
