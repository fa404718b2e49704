"""The SSRF URL policy: allow-list matching on normalised URLs, and what counts as public."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from model_fetch.exceptions import InvalidRequest
from model_fetch.transfer import UrlPolicy, _policy, is_public_address

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


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1
        "fec0::1",  # site-local
        "fec0:1234::5",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "::",
        "::1",
    ],
)
def test_wrapped_and_site_local_addresses_are_not_public(address: str) -> None:
    """An IPv6 address carrying a private IPv4 one, or a site-local one, is refused."""
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["::808:808", "::ffff:0:808:808", "2606:4700::1111"])
def test_wrapped_public_addresses_stay_public(address: str) -> None:
    """An IPv6 address carrying a public IPv4 address (8.8.8.8) is judged by it: public."""
    assert is_public_address(ipaddress.ip_address(address))


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]) -> None:
    def getaddrinfo(host: str, port: int, *_: object, **__: object) -> list[tuple[object, ...]]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(_policy.socket, "getaddrinfo", getaddrinfo)


def test_refusals_do_not_tell_how_internal_names_resolve(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A remote caller gets the same words for a private and an unknown name; the log has why."""
    _fake_dns(monkeypatch, {"db.internal": "10.1.2.3"})
    policy = UrlPolicy()
    answers = []
    for url in ("http://db.internal/x", "http://nothing.internal/x"):
        with pytest.raises(InvalidRequest) as refused:
            policy.check(url)
        answers.append(str(refused.value))
    assert answers[0] == answers[1]
    assert "10.1.2.3" not in answers[0]
    assert "internal" not in answers[0]
    assert "10.1.2.3" in caplog.text
    assert "nothing.internal" in caplog.text


def test_allowlist_refusal_does_not_echo_the_url() -> None:
    """A redirect hop off the allow-list is refused without repeating where it pointed."""
    policy = UrlPolicy(allowlist=("models.example.com",))
    with pytest.raises(InvalidRequest, match="allowlist") as refused:
        policy.check("https://secret-build-host.corp.example/x", resolve=False)
    assert "secret-build-host" not in str(refused.value)
