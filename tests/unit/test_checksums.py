"""Parsing the ``checksum`` field: ``algo:hex``, case-insensitive in the algorithm and the hex."""

from __future__ import annotations

import pytest

from model_fetch.checksums import parse_checksum

DIGEST = "ab" * 32


@pytest.mark.parametrize(
    "text", [f"SHA256:{DIGEST}", f"Sha256:{DIGEST}", f"sha256:{DIGEST.upper()}"]
)
def test_algorithm_and_hex_are_case_insensitive(text: str) -> None:
    """``SHA256:<hex>`` is the same checksum as ``sha256:<hex>``, not an unknown algorithm."""
    checksum = parse_checksum(text)
    assert checksum is not None
    assert (checksum.algorithm, checksum.hexdigest) == ("sha256", DIGEST)
