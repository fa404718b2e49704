"""The `default` source: a model repository index at a URL, with caching and the built-in index."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from model_fetch import (
    ChecksumMismatch,
    Downloader,
    DownloadFailed,
    InvalidRequest,
    ModelNotFound,
)
from model_fetch.sources._index import parse_index
from model_fetch.sources.default import BUILTIN_INDEX
from support.helpers import payload, sha256
from support.server import FileServer

V1 = payload(120_000, seed=11)
V2 = payload(90_000, seed=12)
SCHEMA = json.loads(
    resources.files("model_fetch.sources").joinpath("index.schema.json").read_text()
)


def FILE(index: dict) -> dict:  # noqa: N802 - reads like the path it names
    return index["models"]["resnet50"]["versions"]["v1.0"]["files"][0]


def make_index(**overrides: object) -> dict[str, object]:
    index: dict[str, object] = {
        "format": 1,
        "models": {
            "resnet50": {
                "latest": "v1.0",
                "versions": {
                    "v1.0": {
                        "files": [
                            {
                                "url": "files/resnet50-v1.0.pth",
                                "path": "resnet50-v1.0.pth",
                                "size": len(V1),
                                "sha256": sha256(V1),
                            }
                        ],
                        "description": "first",
                        "tags": ["vision"],
                    },
                    "v2.0": {
                        "files": [
                            {
                                "url": "files/resnet50-v2.0.pth",
                                "sha256_prefix": sha256(V2)[:8],
                            }
                        ]
                    },
                },
            },
        },
    }
    index.update(overrides)
    return index


@pytest.fixture
def repo(server: FileServer) -> FileServer:
    server.add_file("/repo/index.json", json.dumps(make_index()).encode())
    server.add_file("/repo/files/resnet50-v1.0.pth", V1)
    server.add_file("/repo/files/resnet50-v2.0.pth", V2)
    return server


@pytest.fixture
def dl(repo: FileServer, store: Path) -> Downloader:
    return Downloader(store=store, repository=repo.url("/repo/index.json"))


def test_latest_resolves_through_the_index(dl: Downloader, repo: FileServer) -> None:
    """`latest` resolves to the index's latest; relative URLs resolve against the index."""
    result = dl.download("resnet50")
    assert result.version == "v1.0"
    assert result.checksum_verified
    assert Path(result.file_path).read_bytes() == V1
    assert result.download_url == repo.url("/repo/files/resnet50-v1.0.pth")
    assert dl.info("resnet50").source == "default"


def test_concrete_version_reuse_makes_no_request(dl: Downloader, repo: FileServer) -> None:
    """An installed concrete version is served with no request at all, not even the index."""
    dl.download("resnet50", "v1.0")
    repo.reset_requests()
    assert dl.download("resnet50", "v1.0").reused
    assert repo.requests == []


def test_sha256_prefix_is_verified(dl: Downloader, repo: FileServer, store: Path) -> None:
    """A published sha256 prefix is checked: the right bytes pass, wrong bytes install nothing."""
    assert Path(dl.download("resnet50", "v2.0").file_path).read_bytes() == V2
    repo.add_file("/repo/files/resnet50-v2.0.pth", V1)
    with pytest.raises(ChecksumMismatch) as caught:
        dl.download("resnet50", "v2.0", force_download=True)
    assert caught.value.algorithm == "sha256-prefix"
    assert Path(dl.info("resnet50", "v2.0").file_path).read_bytes() == V2


def test_size_from_the_index_is_verified(dl: Downloader, repo: FileServer) -> None:
    """A file whose size differs from the index's fails before it is installed."""
    repo.add_file("/repo/files/resnet50-v1.0.pth", V1[:-1])
    with pytest.raises(DownloadFailed, match="expected 120000"):
        dl.download("resnet50", "v1.0")
    assert dl.list_models() == []


def test_caller_checksum_is_checked_too(dl: Downloader) -> None:
    """A checksum given by the caller is verified in addition to the index's digests."""
    with pytest.raises(ChecksumMismatch):
        dl.download("resnet50", "v1.0", checksum="md5:" + "0" * 32)


def test_unknown_model_and_version(dl: Downloader) -> None:
    """Unknown models and versions are 404 with the contract's message."""
    with pytest.raises(ModelNotFound) as caught:
        dl.download("unknown-model")
    assert str(caught.value) == "Model 'unknown-model' not found in repository"
    with pytest.raises(ModelNotFound, match="version 'v9' not found"):
        dl.download("resnet50", "v9")


def test_index_is_revalidated_with_etag(dl: Downloader, repo: FileServer) -> None:
    """The index is cached and revalidated with If-None-Match."""
    dl.download("resnet50")
    first = repo.requests_for("/repo/index.json")[0]
    assert "if-none-match" not in first.headers
    dl.download("resnet50", "v2.0")
    second = repo.requests_for("/repo/index.json")[1]
    assert second.headers["if-none-match"].startswith('"')


def test_cached_index_is_used_when_the_repository_is_down(
    repo: FileServer, store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the repository unreachable, the last good index copy still resolves requests."""
    (tmp_path / "v2.pth").write_bytes(V2)
    index = make_index()
    index["models"]["resnet50"]["versions"]["v2.0"]["files"][0]["url"] = (  # type: ignore[index]
        (tmp_path / "v2.pth").as_uri()
    )
    repo.add_file("/repo/index.json", json.dumps(index).encode())
    with Downloader(store=store, repository=repo.url("/repo/index.json")) as dl:
        dl.download("resnet50", "v1.0")
        repo.close()
        caplog.set_level(logging.WARNING, logger="model_fetch")
        result = dl.download("resnet50", "v2.0")
    assert Path(result.file_path).read_bytes() == V2
    assert "cached repository index" in caplog.text


def test_unreachable_repository_without_cache(store: Path) -> None:
    """No index and no cached copy: a clear DownloadFailed naming the index."""
    with (
        Downloader(store=store, repository="http://127.0.0.1:9/index.json") as dl,
        pytest.raises(DownloadFailed, match="repository index"),
    ):
        dl.download("resnet50")


def test_repository_from_environment(
    repo: FileServer, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODEL_FETCH_REPOSITORY points the default source at an index."""
    monkeypatch.setenv("MODEL_FETCH_REPOSITORY", repo.url("/repo/index.json"))
    with Downloader(store=store) as dl:
        assert dl.download("resnet50").version == "v1.0"


def test_fsspec_index_with_relative_urls(tmp_path: Path, store: Path) -> None:
    """An index on any fsspec filesystem (here a local path) resolves relative file URLs."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "resnet50-v1.0.pth").write_bytes(V1)
    (tmp_path / "index.json").write_text(json.dumps(make_index()))
    with Downloader(store=store, repository=tmp_path / "index.json") as dl:
        assert Path(dl.download("resnet50", "v1.0").file_path).read_bytes() == V1


@pytest.mark.parametrize(
    ("mutate", "message", "schema_can_tell"),
    [
        (lambda i: i.update(format=2), "format", True),
        # "latest must name one of the versions" is beyond what JSON Schema can express.
        (lambda i: i["models"]["resnet50"].update(latest="v7"), "latest", False),
        (lambda i: FILE(i).update(path="../x"), "'..'", True),
        (lambda i: FILE(i).update(sha256="zz"), "sha256", True),
        (lambda i: FILE(i).update(surprise=1), "unknown file key", True),
        (lambda i: i["models"]["resnet50"]["versions"]["v1.0"].update(files=[]), "files", True),
        (lambda i: i["models"].update({"../evil": i["models"]["resnet50"]}), "evil", True),
    ],
)
def test_malformed_indexes_are_refused(mutate: object, message: str, schema_can_tell: bool) -> None:
    """Bad indexes are refused by our parser, and by the published JSON Schema where it can."""
    index = make_index()
    mutate(index)  # type: ignore[operator]
    with pytest.raises(InvalidRequest, match="Invalid repository index") as caught:
        parse_index(index, "http://127.0.0.1/index.json")
    assert message in str(caught.value)
    if schema_can_tell:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(index, SCHEMA)


def test_example_index_matches_schema() -> None:
    """The format documented in the issue validates against the JSON Schema."""
    jsonschema.validate(make_index(), SCHEMA)


def test_builtin_index_is_valid_and_published_only(store: Path) -> None:
    """The shipped index parses, matches its schema, and cites where each value was published."""
    raw = json.loads(
        resources.files("model_fetch.sources").joinpath("builtin_index.json").read_text()
    )
    jsonschema.validate(raw, SCHEMA)
    index = parse_index(raw, BUILTIN_INDEX)
    assert "resnet50" in index.models
    for name, model in index.models.items():
        for version, entry in model.versions.items():
            assert entry.reference.startswith("https://github.com/pytorch/vision/"), (name, version)
            for file in entry.files:
                assert file.url.startswith("https://download.pytorch.org/models/")
                assert file.sha256_prefix is not None
                assert file.sha256_prefix in file.path


def test_builtin_resnet50_plan(store: Path) -> None:
    """Out of the box, `resnet50` v1.0 resolves to torchvision's published file and prefix."""
    with Downloader(store=store) as dl:
        plan = dl.source("default").plan(
            __import__("model_fetch").DownloadRequest(model_name="resnet50", version="v1.0")
        )
    assert plan.download_url == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert plan.files[0].sha256_prefix == "0676ba61"


def test_builtin_index_through_a_local_mirror(
    server: FileServer, store: Path, tmp_path: Path
) -> None:
    """A mirror of the built-in index on 127.0.0.1 is used, and its prefixes are enforced."""
    raw = json.loads(
        resources.files("model_fetch.sources").joinpath("builtin_index.json").read_text()
    )
    entry = raw["models"]["resnet18"]["versions"]["v1.0"]["files"][0]
    name = entry["path"]
    entry["url"] = server.url(f"/models/{name}")
    server.add_file(f"/models/{name}", b"not the published weights")
    mirror = tmp_path / "mirror.json"
    mirror.write_text(json.dumps(raw))
    with Downloader(store=store, repository=mirror) as dl, pytest.raises(ChecksumMismatch):
        dl.download("resnet18", "v1.0")
    assert [r.path for r in server.requests] == [f"/models/{name}"]
