"""The HTTP client: redirects, credentials, netrc and proxies, as curl and requests users expect."""

from __future__ import annotations

import base64
import http.server
import socket
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trustme
from urllib3.exceptions import InsecureRequestWarning

from model_fetch import Downloader, DownloadFailed, InvalidRequest, ModelNotFound
from model_fetch.transfer import UrlPolicy, _policy
from support.helpers import payload

if TYPE_CHECKING:
    from collections.abc import Iterator

    from support.server import FileServer

DATA = payload(50_000)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_never_follow_a_redirect_to_another_origin(
    downloader: Downloader, server: FileServer
) -> None:
    """Userinfo credentials reach the first origin only; a redirect elsewhere drops them."""
    server.add_file("/real.bin", DATA)
    server.add_redirect("/start.bin", f"http://localhost:{server.port}/real.bin")
    url = f"http://alice:s3cret@127.0.0.1:{server.port}/start.bin"
    result = downloader.download("m", "v1", download_url=url)
    first, second = server.requests
    assert first.headers.get("authorization") == basic("alice", "s3cret")
    assert "authorization" not in second.headers
    assert second.headers["host"].startswith("localhost")
    assert Path(result.file_path).read_bytes() == DATA
    assert "s3cret" not in downloader.info("m").download_url
    assert downloader.info("m").download_url.startswith("http://***@127.0.0.1")


def test_credentials_kept_on_same_origin_redirect(
    downloader: Downloader, server: FileServer
) -> None:
    """A redirect within the same origin keeps the Authorization header."""
    server.add_file("/real.bin", DATA)
    server.add_redirect("/start.bin", "/real.bin")
    url = f"http://alice:pw@127.0.0.1:{server.port}/start.bin"
    downloader.download("m", "v1", download_url=url)
    assert all(r.headers.get("authorization") == basic("alice", "pw") for r in server.requests)


def test_netrc_credentials(
    server: FileServer, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """~/.netrc (or $NETRC) supplies credentials for its host, and only that host."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server.add_file("/real.bin", DATA)
    server.add_redirect("/start.bin", f"http://localhost:{server.port}/real.bin")
    with Downloader(store=store) as downloader:
        downloader.download("m", "v1", download_url=server.url("/start.bin"))
    first, second = server.requests
    assert first.headers.get("authorization") == basic("bob", "hunter2")
    assert "authorization" not in second.headers


def test_redirect_to_non_http_is_refused(downloader: Downloader, server: FileServer) -> None:
    """A redirect to file:// (or any non-http scheme) is refused."""
    server.add_redirect("/start.bin", "file:///etc/passwd")
    with pytest.raises(DownloadFailed, match="non-http"):
        downloader.download("m", "v1", download_url=server.url("/start.bin"))


def test_redirect_loop_is_bounded(downloader: Downloader, server: FileServer) -> None:
    """A redirect loop ends with a clear error after ten hops."""
    server.add_redirect("/loop.bin", "/loop.bin")
    with pytest.raises(DownloadFailed, match="Too many redirects"):
        downloader.download("m", "v1", download_url=server.url("/loop.bin"))
    assert len(server.requests) == 11


def test_proxy_environment(
    server: FileServer, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY routes requests through the proxy; NO_PROXY bypasses it."""
    target = "http://127.0.0.1:9/through-proxy.bin"
    monkeypatch.setenv("HTTP_PROXY", server.url(""))
    with Downloader(store=store) as downloader, pytest.raises(ModelNotFound):
        downloader.download("m", "v1", download_url=target)
    assert [r.path for r in server.requests] == [target]

    server.reset_requests()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Downloader(store=store) as downloader, pytest.raises(DownloadFailed):
        downloader.download("m", "v1", download_url=target, options={"retry_count": 0})
    assert server.requests == []


@pytest.fixture
def https_url() -> Iterator[tuple[str, trustme.CA]]:
    """An https server on 127.0.0.1 with a certificate from a throwaway CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/m.bin", ca
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_tls_is_verified(store: Path, https_url: tuple[str, trustme.CA]) -> None:
    """An untrusted certificate fails at once with a TLS error; it is not retried."""
    url, _ = https_url
    with Downloader(store=store) as downloader, pytest.raises(DownloadFailed, match="TLS"):
        downloader.download("m", "v1", download_url=url)


def test_ca_bundle_from_environment(
    store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    https_url: tuple[str, trustme.CA],
) -> None:
    """SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) names the CA bundle that verifies https servers."""
    url, ca = https_url
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.setenv(variable, str(bundle))
        with Downloader(store=store) as downloader:
            result = downloader.download("m", variable, download_url=url)
        assert Path(result.file_path).read_bytes() == DATA


def test_verify_ssl_false(store: Path, https_url: tuple[str, trustme.CA]) -> None:
    """options.verify_ssl=False accepts an untrusted certificate, with urllib3's warning."""
    url, _ = https_url
    with Downloader(store=store) as downloader, pytest.warns(InsecureRequestWarning):
        result = downloader.download("m", "v1", download_url=url, options={"verify_ssl": False})
    assert Path(result.file_path).read_bytes() == DATA


def test_policy_pins_the_checked_address(
    downloader: Downloader, server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a URL policy the name is resolved once and the connection goes to that address."""
    server.add_file("/m.bin", DATA)
    calls: list[str] = []

    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(_policy.socket, "getaddrinfo", fake_getaddrinfo)
    url = f"http://rebind.test:{server.port}/m.bin"
    response = downloader.http.request("GET", url, timeout=5, policy=UrlPolicy(allow_private=True))
    assert response.status == 200
    response.drain_conn()
    response.release_conn()
    assert calls.count("rebind.test") == 1, "the name is resolved once, by the policy"
    assert set(calls) <= {"rebind.test", "127.0.0.1"}, "the connection used the checked address"
    assert server.requests[0].headers["host"] == f"rebind.test:{server.port}"
    with pytest.raises(InvalidRequest, match="does not fetch from"):
        downloader.http.request("GET", url, timeout=5, policy=UrlPolicy())
