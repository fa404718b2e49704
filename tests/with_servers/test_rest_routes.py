"""The REST API in-process: every status code of the contract, and the server's guards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_fetch import Downloader
from model_fetch.http import ServerSettings, create_app
from model_fetch.transfer import UrlPolicy
from support.helpers import COMPLETED_KEYS, payload, sha256
from support.server import Fault, FileServer

DATA = payload(150_000, seed=41)
STARTED_KEYS = [
    "status",
    "message",
    "download_id",
    "model_name",
    "version",
    "estimated_size_mb",
    "estimated_duration_seconds",
    "download_url",
    "progress_endpoint",
]


def make_client(store: Path, **settings: object) -> TestClient:
    defaults: dict[str, object] = {
        "allowed_hosts": ("testserver",),
        "url_policy": UrlPolicy(allow_private=True),
    }
    downloader = Downloader(store=store)
    return TestClient(create_app(downloader, ServerSettings(**{**defaults, **settings})))


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with make_client(store) as test_client:
        yield test_client
        test_client.app.state.downloader.close()


@pytest.fixture
def url(server: FileServer) -> str:
    server.add_file("/models/tiny.pth", DATA)
    return server.url("/models/tiny.pth")


def poll(client: TestClient, download_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/model-download/{download_id}/progress").json()
        if body["status"] in ("completed", "failed"):
            return body
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_synchronous_completion(client: TestClient, url: str) -> None:
    """A fast download answers 200 with exactly the contract's "Download Completed" body."""
    response = client.post(
        "/model-download",
        json={
            "model_name": "tiny",
            "version": "v1",
            "download_url": url,
            "checksum": f"sha256:{sha256(DATA)}",
            "metadata": {"author": "me"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == COMPLETED_KEYS
    assert body["status"] == "completed"
    assert body["checksum_verified"] is True
    assert body["installation"]["status"] == "success"


def test_started_then_progress_then_completed(
    client: TestClient, server: FileServer, url: str
) -> None:
    """A slow download answers "started"; the progress endpoint runs to the completed body."""
    server.queue("/models/tiny.pth", Fault(drip=(20_000, 0.05)))
    response = client.post(
        "/model-download?wait=0.1",
        json={"model_name": "tiny", "version": "v1", "download_url": url},
    )
    assert response.status_code == 200
    started = response.json()
    assert list(started) == STARTED_KEYS
    assert started["status"] == "started"
    assert started["download_id"].startswith("dwnld_")
    assert started["progress_endpoint"] == f"/model-download/{started['download_id']}/progress"
    assert started["download_url"] == url
    running = client.get(started["progress_endpoint"]).json()
    assert running["status"] == "downloading"
    assert all(
        isinstance(running["progress"][key], int | float)
        for key in ("percentage", "downloaded_mb", "total_mb", "speed_mbps", "eta_seconds")
    )
    loading = client.get("/models").json()["models"]
    assert {
        "name": "tiny",
        "version": "v1",
        "status": "loading",
        "download_id": started["download_id"],
    } in loading
    final = poll(client, started["download_id"])
    assert list(final) == COMPLETED_KEYS


def test_wait_zero_forces_asynchronous(client: TestClient, url: str) -> None:
    """?wait=0 answers "started" at once, even for a fast download."""
    response = client.post(
        "/model-download?wait=0", json={"model_name": "tiny", "version": "v1", "download_url": url}
    )
    assert response.json()["status"] == "started"
    assert poll(client, response.json()["download_id"])["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"version": "v1"}, "model_name"),
        ({"model_name": 5}, "model_name"),
        ({"model_name": "x", "force_download": "yes"}, "force_download"),
        ({"model_name": "x", "options": {"bogus": 1}}, "options.bogus"),
        ({"model_name": "x", "options": {"chunk_size": 0}}, "chunk_size"),
        ({"model_name": "x", "options": {"chunk_size": 1 << 30}}, "chunk_size"),
        ({"model_name": "x", "options": {"timeout": 100000}}, "timeout"),
        ({"model_name": "x", "options": {"retry_count": 11}}, "retry_count"),
        ({"model_name": "x", "options": {"connections": 17}}, "connections"),
        ({"model_name": "x", "options": {"parallel_min_size": 1024}}, "parallel_min_size"),
        ({"model_name": "x", "options": {"verify_ssl": 0}}, "verify_ssl"),
        ({"model_name": "x", "options": {"verify_ssl": False}}, "allow-insecure-tls"),
        ({"model_name": "x", "checksum": "sha256:zz"}, "checksum"),
        ({"model_name": "../etc"}, "model_name"),
        ({"model_name": "x", "unknown_field": 1}, "unknown_field"),
        ({"model_name": "x", "metadata": {"k": "v" * 70_000}}, "metadata"),
        ({"model_name": "x", "source": "nope"}, "available sources"),
        ({"model_name": "x", "download_url": "file:///etc/passwd"}, "download_url"),
        ({"model_name": "x", "download_url": "ftp://host/x"}, "download_url"),
        ({"model_name": "x", "download_url": "http://evil.test\\@127.0.0.1/x"}, "backslash"),
    ],
)
def test_bad_requests_are_400(client: TestClient, body: dict, fragment: str) -> None:
    """Schema errors, caps and unsafe URLs are 400 with {"detail": ...}, never 422."""
    response = client.post("/model-download", json=body)
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["detail"]
    assert fragment in response.json()["detail"]
    assert client.get("/models").json()["total"] == 0


def test_malformed_json_is_400(client: TestClient) -> None:
    """A body that is not JSON at all is a 400."""
    response = client.post(
        "/model-download", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_body_is_415(client: TestClient, content_type: str) -> None:
    """A cross-site form or text/plain POST cannot start a download (415)."""
    response = client.post(
        "/model-download",
        content=json.dumps({"model_name": "x"}).encode(),
        headers={"content-type": content_type},
    )
    assert response.status_code == 415


def test_private_urls_refused_by_default(store: Path, url: str) -> None:
    """Without --allow-private-urls, a loopback download URL is a 400 before any request."""
    with make_client(store, url_policy=UrlPolicy()) as client:
        response = client.post("/model-download", json={"model_name": "x", "download_url": url})
        assert response.status_code == 400
        assert "does not fetch from" in response.json()["detail"]
        for sneaky in ("http://2130706433/x", "http://0x7f000001/x", "http://[::ffff:127.0.0.1]/x"):
            refused = client.post(
                "/model-download", json={"model_name": "x", "download_url": sneaky}
            )
            assert refused.status_code == 400, sneaky


def test_redirect_to_private_address_is_refused_at_that_hop(
    store: Path, server: FileServer
) -> None:
    """A URL allowed by the allowlist that redirects elsewhere is checked again at the hop."""
    server.add_redirect("/hop.bin", "http://localhost:9/secret")
    policy = UrlPolicy(allow_private=True, allowlist=("127.0.0.1",))
    with make_client(store, url_policy=policy) as client:
        response = client.post(
            "/model-download",
            json={"model_name": "x", "version": "v1", "download_url": server.url("/hop.bin")},
        )
        assert response.status_code == 400
        assert "allowlist" in response.json()["detail"]


def test_409_exists_and_force(client: TestClient, url: str) -> None:
    """An installed version is a 409 with the contract's message; force_download replaces it."""
    body = {"model_name": "tiny", "version": "v1", "download_url": url}
    assert client.post("/model-download", json=body).status_code == 200
    conflict = client.post("/model-download", json=body)
    assert conflict.status_code == 409
    assert conflict.json() == {
        "detail": "Model 'tiny' version 'v1' already exists. Use force_download=true to override."
    }
    forced = client.post("/model-download", json={**body, "force_download": True})
    assert forced.status_code == 200
    assert forced.json()["status"] == "completed"


def test_409_download_in_progress(client: TestClient, server: FileServer, url: str) -> None:
    """A different request for a version being downloaded is a 409."""
    server.queue("/models/tiny.pth", Fault(drip=(10_000, 0.05)))
    first = client.post(
        "/model-download?wait=0", json={"model_name": "tiny", "version": "v1", "download_url": url}
    )
    other = client.post(
        "/model-download?wait=0",
        json={
            "model_name": "tiny",
            "version": "v1",
            "download_url": url,
            "checksum": "sha256:" + "0" * 64,
        },
    )
    assert other.status_code == 409
    client.delete(f"/model-download/{first.json()['download_id']}")


def test_404_model_not_found(client: TestClient, server: FileServer) -> None:
    """An unknown model in the repository, or a URL that 404s, answers 404."""
    missing = client.post(
        "/model-download", json={"model_name": "x", "download_url": server.url("/nope.bin")}
    )
    assert missing.status_code == 404
    assert client.get("/model-info/nothing").status_code == 404
    assert client.delete("/model-remove/nothing").status_code == 404
    assert client.get("/model-download/dwnld_unknown/progress").status_code == 404
    assert client.delete("/model-download/dwnld_unknown").status_code == 404


def test_404_from_the_repository(store: Path, server: FileServer) -> None:
    """The default repository's "not found" is a 404 with the contract's message."""
    server.add_file("/index.json", json.dumps({"format": 1, "models": {}}).encode())
    downloader = Downloader(store=store, repository=server.url("/index.json"))
    settings = ServerSettings(allowed_hosts=("testserver",))
    with TestClient(create_app(downloader, settings)) as client:
        response = client.post(
            "/model-download", json={"model_name": "resnet50", "version": "v1.0"}
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "Model 'resnet50' not found in repository"}
    downloader.close()


def test_413_insufficient_storage(store: Path, url: str) -> None:
    """A model larger than the store's room answers 413 with the contract's message."""
    downloader = Downloader(store=store, max_store_bytes=10_000)
    settings = ServerSettings(
        allowed_hosts=("testserver",), url_policy=UrlPolicy(allow_private=True)
    )
    with TestClient(create_app(downloader, settings)) as client:
        response = client.post("/model-download", json={"model_name": "x", "download_url": url})
        assert response.status_code == 413
        assert response.json()["detail"].startswith("Insufficient storage space. Required: ")
    downloader.close()


def test_500_download_failed(client: TestClient, server: FileServer, url: str) -> None:
    """A download that fails after its retries answers 500 with the reason."""
    server.queue("/models/tiny.pth", *[Fault(status=503)] * 2)
    response = client.post(
        "/model-download",
        json={"model_name": "x", "download_url": url, "options": {"retry_count": 1}},
    )
    assert response.status_code == 500
    assert "after 2 attempts" in response.json()["detail"]
    assert client.get("/models").json()["models"][0]["status"] == "failed"


def test_checksum_mismatch_is_500_and_installs_nothing(client: TestClient, url: str) -> None:
    """Bytes that do not match the checksum answer 500; nothing is listed as available."""
    response = client.post(
        "/model-download",
        json={"model_name": "x", "download_url": url, "checksum": "sha256:" + "0" * 64},
    )
    assert response.status_code == 500
    assert "Checksum mismatch" in response.json()["detail"]
    assert [m["status"] for m in client.get("/models").json()["models"]] == ["failed"]


def test_cancel(client: TestClient, server: FileServer, url: str) -> None:
    """DELETE cancels: progress then reports failed, "Download cancelled" and cancelled: true."""
    server.queue("/models/tiny.pth", Fault(drip=(5_000, 0.05)))
    started = client.post(
        "/model-download?wait=0", json={"model_name": "tiny", "version": "v1", "download_url": url}
    ).json()
    download_id = started["download_id"]
    response = client.delete(f"/model-download/{download_id}")
    assert response.status_code == 200
    assert response.json() == {
        "status": "cancelled",
        "message": "Download cancelled",
        "download_id": download_id,
    }
    body = client.get(f"/model-download/{download_id}/progress").json()
    assert body["status"] == "failed"
    assert body["message"] == "Download cancelled"
    assert body["cancelled"] is True
    assert client.delete(f"/model-download/{download_id}").status_code == 409


def test_models_info_remove_and_cache_info(client: TestClient, server: FileServer) -> None:
    """The related endpoints answer with related-endpoints.md's shapes, org/name included."""
    server.add_file("/a.bin", DATA)
    server.add_file("/b.bin", DATA[:1000])
    for version, path in (("v1", "/a.bin"), ("v2", "/b.bin")):
        response = client.post(
            "/model-download",
            json={
                "model_name": "acme/tiny-model",
                "version": version,
                "download_url": server.url(path) + "?X-Amz-Signature=secret",
            },
        )
        assert response.status_code == 200, response.text
    models = client.get("/models").json()
    assert models["total"] == 2
    assert {m["status"] for m in models["models"]} == {"available"}
    info = client.get("/model-info/acme/tiny-model", params={"version": "v1"}).json()
    assert info["name"] == "acme/tiny-model"
    assert info["versions"] == ["v1", "v2"]
    assert "secret" not in info["download_url"]
    assert info["download_url"].endswith("/a.bin?***")
    assert client.get("/model-info/acme/tiny-model").json()["version"] == "v2"
    cache = client.get("/cache-info").json()
    assert set(cache) == {"cache_info", "model_cache", "download_cache"}
    assert cache["model_cache"]["entry_count"] == 2
    removed = client.request(
        "DELETE", "/model-remove/acme/tiny-model?version=v1", json={"confirm": True}
    )
    assert removed.status_code == 200
    assert removed.json()["status"] == "version_removed"
    assert removed.json()["remaining_versions"] == ["v2"]
    last = client.delete("/model-remove/acme/tiny-model")
    assert last.json()["status"] == "completely_removed"


@pytest.mark.parametrize("path", ["/model-info/..%2F..", "/model-info/%2e%2e", "/model-info/a/b/c"])
def test_name_routes_validate_names(client: TestClient, path: str) -> None:
    """Names from the path are decoded and validated: traversal attempts are 400."""
    assert client.get(path).status_code == 400


def test_remove_while_downloading(client: TestClient, server: FileServer, url: str) -> None:
    """Removing a model being downloaded is 409 unless force=true, which cancels it first."""
    client.post(
        "/model-download", json={"model_name": "tiny", "version": "v0", "download_url": url}
    )
    server.queue("/models/tiny.pth", Fault(drip=(5_000, 0.05)))
    started = client.post(
        "/model-download?wait=0", json={"model_name": "tiny", "version": "v1", "download_url": url}
    ).json()
    assert client.delete("/model-remove/tiny").status_code == 409
    forced = client.delete("/model-remove/tiny?force=true")
    assert forced.status_code == 200
    assert poll(client, started["download_id"])["cancelled"] is True


def test_token_guards_every_route_but_health(store: Path) -> None:
    """With a token, requests without it get 401; /health stays open."""
    with make_client(store, token="s3cret-token") as client:
        assert client.get("/health").status_code == 200
        denied = client.get("/models")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert client.get("/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/models", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert client.get("/openapi.json").status_code == 401


def test_foreign_host_header_is_refused(store: Path) -> None:
    """A Host header that is not this server (DNS rebinding) is refused."""
    with make_client(store, allowed_hosts=()) as client:
        assert client.get("/models", headers={"host": "evil.example"}).status_code == 400
        assert client.get("/models", headers={"host": "127.0.0.1:8000"}).status_code == 200
        assert client.get("/models", headers={"host": "localhost"}).status_code == 200


def test_openapi_documents_every_status_and_no_422(client: TestClient) -> None:
    """/openapi.json documents the contract's status codes and never FastAPI's 422."""
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/model-download"]["post"]["responses"]
    assert set(post) == {"200", "400", "401", "404", "409", "413", "415", "500"}
    text = json.dumps(schema)
    assert '"422"' not in text
