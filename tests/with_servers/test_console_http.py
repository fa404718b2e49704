"""The console's server side in-process: assets, headers, the token rule, CORS, /sources, wheel."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hatchling.builders.wheel import WheelBuilder

from model_fetch import Downloader
from model_fetch.cli import main
from model_fetch.exceptions import InvalidRequest
from model_fetch.http import ServerSettings, create_app
from model_fetch.http._settings import parse_origin
from model_fetch.sources.url import UrlSource
from support.helpers import REPO

ROOT = REPO
CONSOLE = ROOT / "src" / "model_fetch" / "http" / "console"
APP_ORIGIN = "https://app.example.com"


@pytest.fixture
def make_client(store: Path) -> Iterator:
    downloaders: list[Downloader] = []

    def make(**settings: object) -> TestClient:
        downloader = Downloader(store=store)
        downloaders.append(downloader)
        defaults: dict[str, object] = {"allowed_hosts": ("testserver",)}
        return TestClient(create_app(downloader, ServerSettings(**{**defaults, **settings})))

    yield make
    for downloader in downloaders:
        downloader.close()


def test_console_page_and_assets_carry_strict_headers(make_client) -> None:
    """/ and every asset come from the package with a CSP that forbids inline script and framing."""
    client = make_client()
    expected = {
        "/": "text/html",
        "/console/app.js": "text/javascript",
        "/console/style.css": "text/css",
        "/console/icon.svg": "image/svg+xml",
    }
    for path, media_type in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(media_type)
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["base-uri"] == "'none'"
        assert policy["form-action"] == "'self'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    missing = client.get("/console/../_app.py")
    assert missing.status_code == 404
    assert client.get("/console/index.py").json() == {"detail": "No console file 'index.py'"}


def test_console_uses_relative_urls_and_inserts_text_only() -> None:
    """No URL in the page or script names a host or starts at /, and no HTML is ever parsed."""
    html = (CONSOLE / "index.html").read_text()
    urls = re.findall(r'(?:src|href|action)="([^"]*)"', html)
    assert urls
    assert all(not url.startswith(("/", "http:", "https:")) for url in urls), urls
    assert "<script>" not in html
    assert " style=" not in html
    script = (CONSOLE / "app.js").read_text()
    for call in re.findall(r"(?:fetch|api)\(\s*([`\"'][^`\"']*)", script):
        assert not call[1:].startswith(("/", "http")), call
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "new EventSource" not in script  # it cannot send the Authorization header
    assert "sessionStorage" in script
    assert "localStorage" not in script


def test_console_loads_without_the_token_but_the_api_needs_it(make_client) -> None:
    """With a token, the page and its assets answer 200 while every API route answers 401."""
    client = make_client(token="t0ken")
    for path in ("/", "/console/app.js"):
        assert client.get(path).status_code == 200
    for path in ("/sources", "/models", "/model-download/events", "/openapi.json"):
        assert client.get(path).status_code == 401, path
    sources = client.get("/sources", headers={"Authorization": "Bearer t0ken"})
    assert sources.status_code == 200


def test_sources_lists_builtins_and_injected_sources(make_client, store: Path) -> None:
    """/sources names every source a request may use, injected ones included."""
    client = make_client()
    assert client.get("/sources").json() == {
        "sources": ["default", "huggingface", "local", "url"],
        "default": "default",
    }
    with Downloader(store=store, sources={"acme": UrlSource}) as downloader:
        assert downloader.source_names() == ["acme", "default", "huggingface", "local", "url"]


def test_cors_allows_only_the_named_origins(make_client) -> None:
    """Preflight and requests from an allowed origin pass; any other Origin is refused (400)."""
    client = make_client(cors_origins=(APP_ORIGIN,), token="t0ken")
    auth = {"Authorization": "Bearer t0ken"}
    preflight = client.options(
        "/model-download",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    answer = client.get("/models", headers={"Origin": APP_ORIGIN, **auth})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    refused = client.get("/models", headers={"Origin": "https://evil.example", **auth})
    assert refused.status_code == 400
    assert "Origin not allowed" in refused.json()["detail"]
    assert "access-control-allow-origin" not in refused.headers
    foreign_preflight = client.options(
        "/models",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert foreign_preflight.status_code == 400
    for origin in ("null", "http://testserver.evil.example", "http://testserver:81"):
        assert client.get("/models", headers={"Origin": origin, **auth}).status_code == 400
    own = client.get("/models", headers={"Origin": "http://testserver", **auth})
    assert own.status_code == 200
    assert "access-control-allow-origin" not in own.headers


def test_without_cors_origins_every_foreign_origin_is_refused(make_client) -> None:
    """By default a page on another site cannot drive the API, not even a "simple" GET."""
    client = make_client()
    assert client.get("/models", headers={"Origin": APP_ORIGIN}).status_code == 400
    assert client.get("/", headers={"Origin": APP_ORIGIN}).status_code == 400
    assert client.get("/models", headers={"Origin": "http://testserver"}).status_code == 200
    assert client.get("/models").status_code == 200


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443/", "https://app.example.com"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_cors_origins_are_normalised(value: str, normalised: str) -> None:
    """Origins compare as browsers send them: lower case, no default port, no slash."""
    assert parse_origin(value) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com/path",
        "https://user@app.example.com",
        "https://app.example.com?x=1",
        "https://:99",
        "null",
    ],
)
def test_bad_cors_origins_are_refused(value: str) -> None:
    """'*', bare names, paths, credentials and other schemes are refused with a clear error."""
    with pytest.raises(InvalidRequest, match="origin"):
        ServerSettings(cors_origins=(value,))


def test_serve_refuses_a_wildcard_origin(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --cors-origin '*'` exits 2 before it binds anything."""
    code = main(["--store", str(store), "serve", "--port", "1", "--cors-origin", "*"])
    assert code == 2
    assert "'*' is refused" in capsys.readouterr().err


def test_wheel_ships_the_console(tmp_path: Path) -> None:
    """The built wheel holds every console file, so an installed server needs no network."""
    wheel = next(iter(WheelBuilder(str(ROOT)).build(directory=str(tmp_path))))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for asset in ("index.html", "app.js", "style.css", "icon.svg"):
        assert f"model_fetch/http/console/{asset}" in names
