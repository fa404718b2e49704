"""Verifiers given to ``Downloader(verifiers=...)`` decide readiness, not the registered ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from model_fetch import Downloader
from model_fetch.install import Readiness, available_verifiers
from support.helpers import REPO

if TYPE_CHECKING:
    from pathlib import Path


class RefuseSafetensors:
    """A policy verifier: no safetensors file is ready here, whatever its header says."""

    name = "policy"

    def check(self, path: Path) -> Readiness | None:
        """Refuse ``.safetensors`` files; say nothing about the others."""
        if path.suffix != ".safetensors":
            return None
        return Readiness(ready=False, checked="policy", reason="policy: no safetensors here")


class AcceptText:
    """A verifier for a format model_fetch does not know: plain-text ``.vocab`` files."""

    name = "vocab"

    def check(self, path: Path) -> Readiness | None:
        """Pass a ``.vocab`` file that is valid UTF-8 text."""
        if path.suffix != ".vocab":
            return None
        path.read_bytes().decode("utf-8")
        return Readiness(ready=True, checked="vocab.text", reason=None)


@pytest.fixture
def weights() -> str:
    """A real, valid safetensors file (the bundled example) behind a file:// URL."""
    return (REPO / "examples" / "models" / "tiny-mlp.safetensors").as_uri()


def test_default_verifiers_pass_a_valid_safetensors_file(tmp_path: Path, weights: str) -> None:
    """Without ``verifiers=``, the registered checks run and a valid file is ready."""
    with Downloader(tmp_path / "store") as downloader:
        result = downloader.download("tiny", "v1", download_url=weights)
    assert result.ready_for_inference


def test_injected_verifier_replaces_the_registered_ones(tmp_path: Path, weights: str) -> None:
    """An injected verifier's refusal is the result's readiness: the built-in check does not run."""
    with Downloader(tmp_path / "store", verifiers=[RefuseSafetensors()]) as downloader:
        result = downloader.download("tiny", "v1", download_url=weights)
        assert not result.ready_for_inference
        assert "policy: no safetensors here" in str(result.readiness)
        assert downloader.info("tiny", "v1").ready_for_inference is False


def test_injected_verifier_judges_a_format_model_fetch_does_not_know(tmp_path: Path) -> None:
    """A format with no built-in check becomes ready when an injected verifier passes it."""
    vocab = tmp_path / "words.vocab"
    vocab.write_text("hello\nworld\n", encoding="utf-8")
    with Downloader(tmp_path / "plain") as downloader:
        unknown = downloader.download("words", "v1", download_url=vocab.as_uri())
    with Downloader(tmp_path / "judged", verifiers=[AcceptText()]) as downloader:
        judged = downloader.download("words", "v1", download_url=vocab.as_uri())
    assert not unknown.ready_for_inference
    assert judged.ready_for_inference


def test_injecting_verifiers_leaves_the_registry_alone(tmp_path: Path, weights: str) -> None:
    """Another downloader in the same process still uses the registered verifiers."""
    before = [verifier.name for verifier in available_verifiers()]
    with Downloader(tmp_path / "a", verifiers=[RefuseSafetensors()]) as downloader:
        downloader.download("tiny", "v1", download_url=weights)
    with Downloader(tmp_path / "b") as other:
        assert other.download("tiny", "v1", download_url=weights).ready_for_inference
    assert [verifier.name for verifier in available_verifiers()] == before
