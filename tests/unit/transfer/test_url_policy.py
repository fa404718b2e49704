"""The SSRF URL policy: allow-list matching on normalised URLs, and what counts as public."""

from __future__ import annotations

import pytest

from model_fetch.exceptions import InvalidRequest
from model_fetch.transfer import UrlPolicy

PREFIX = "http://127.0.0.1:8080/public/"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/public/../secret/blob.bin",
        "http://127.0.0.1:8080/public/./../secret/blob.bin",
        "http://127.0.0.1:8080/public/%2e%2e/secret/blob.bin",
        "http://127.0.0.1:8080/public/%2E%2E/secret/blob.bin",
        "http://127.0.0.1:8080/public/.%2e/secret/blob.bin",
        "http://127.0.0.1:8080/public/%252e%252e/secret/blob.bin",
        "http://127.0.0.1:8080/public/..%2fsecret/blob.bin",
        "http://127.0.0.1:8080/publicity/blob.bin",
        "http://127.0.0.1:8080/public",
        "https://127.0.0.1:8080/public/blob.bin",
        "http://127.0.0.1:8081/public/blob.bin",
    ],
)
def test_prefix_cannot_be_escaped(url: str) -> None:
    """A URL prefix on --allow-url admits nothing outside it, however the path is spelled."""
    policy = UrlPolicy(allow_private=True, allowlist=(PREFIX,))
    with pytest.raises(InvalidRequest, match="allowlist"):
        policy.check(url, resolve=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/public/blob.bin",
        "HTTP://127.0.0.1:8080/public/blob.bin",
        "http://127.0.0.1:8080/public/a/../blob.bin",
        "http://127.0.0.1:8080/public/%62lob.bin",
        "http://127.0.0.1:8080/public/",
    ],
)
def test_prefix_admits_what_lies_under_it(url: str) -> None:
    """Spellings of a URL under the prefix (case, dot segments inside it, escapes) are allowed."""
    UrlPolicy(allow_private=True, allowlist=(PREFIX,)).check(url, resolve=False)


def test_prefix_without_slash_matches_at_a_segment_boundary() -> None:
    """An entry ``.../public`` allows ``/public`` and ``/public/x`` but not ``/publicity``."""
    policy = UrlPolicy(allowlist=("https://models.example.com/public",))
    policy.check("https://models.example.com/public", resolve=False)
    policy.check("https://models.example.com/public/x.bin", resolve=False)
    with pytest.raises(InvalidRequest):
        policy.check("https://models.example.com/publicity", resolve=False)


@pytest.mark.parametrize(
    "entry",
    [
        "HTTPS://Models.Example.COM/public/",
        "https://models.example.com:443/public/",
        "Models.Example.COM",
        "*.Example.COM",
    ],
)
def test_allowlist_entries_are_case_insensitive(entry: str) -> None:
    """Allow-list entries match whatever the case of their scheme and host, and the default port."""
    UrlPolicy(allowlist=(entry,)).check("https://models.example.com/public/m.bin", resolve=False)
