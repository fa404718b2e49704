"""Collect README.md and docs/*.md as tests: every python and bash block runs (DEVELOPERS.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sybil import Sybil

from support.docs_harness import DocsWorld, ExampleParser, document_environment

if TYPE_CHECKING:
    from collections.abc import Iterator

    from support.docs_harness import DocsEnv


@pytest.fixture(scope="session")
def docs_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsWorld]:
    """The local servers behind every documentation example."""
    world = DocsWorld(tmp_path_factory.mktemp("docs-world"))
    try:
        yield world
    finally:
        world.close()


@pytest.fixture(scope="module")
def docs_env(docs_world: DocsWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsEnv]:
    """One document's environment: a fresh home, store and working directory."""
    with document_environment(docs_world, tmp_path_factory.mktemp("doc")) as env:
        yield env


pytest_collect_file = Sybil(
    parsers=[ExampleParser()],
    patterns=["README.md", "docs/*.md", "docs/**/*.md"],
    fixtures=["docs_env"],
).pytest()
