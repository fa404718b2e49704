"""A store that is the Hugging Face cache: model_fetch and huggingface_hub read each other's files.

huggingface_hub reads its environment at import, so every huggingface_hub call runs in a fresh
interpreter with the cache and the offline switch set.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from model_fetch import Downloader
from support.helpers import payload
from support.hfhub import HubFile, TestHub

if TYPE_CHECKING:
    from support.s3 import MotoServer

pytest.importorskip("huggingface_hub", reason="the hf-cache interchange needs huggingface_hub")

REPO = "acme/tiny-bert"
FILES = [
    HubFile(path="config.json", data=b'{"model_type": "bert", "hidden_size": 8}'),
    HubFile(path="README.md", data=b"# tiny bert\n"),
    HubFile(path="tokenizer/vocab.txt", data=b"[PAD]\n[UNK]\nhello\n"),
    HubFile(path="model.safetensors", data=payload(300_000, seed=31), lfs=True),
]


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHub]:
    with TestHub().start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, named the way huggingface_hub finds it (HF_HUB_CACHE)."""
    path = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    return path


def run_hf(hub: TestHub, cache: Path, code: str, *, offline: bool, **args: Any) -> Any:
    """Run ``code`` with huggingface_hub in a fresh interpreter; return its JSON ``out``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_CACHE=str(cache),
        HF_HOME=str(cache.parent),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="*",
    )
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    script = (
        "import hashlib, json, sys\nfrom pathlib import Path\n"
        "args = json.loads(sys.argv[1])\n" + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_model_fetch_install_is_read_offline_by_huggingface_hub(hub: TestHub, cache: Path) -> None:
    """hf_hub_download(local_files_only) and scan_cache_dir() read what model_fetch installed."""
    hub.add_repo(REPO, FILES)
    with Downloader(store="hf-cache") as downloader:
        result = downloader.download(REPO, source="huggingface")
    commit = hub.commit_sha(REPO, "main")
    assert result.directory == str(cache / "models--acme--tiny-bert" / "snapshots" / commit)
    out = run_hf(
        hub,
        cache,
        """
        from huggingface_hub import hf_hub_download, scan_cache_dir
        out = {"files": {}}
        for name in args["names"]:
            path = hf_hub_download(args["repo"], name, local_files_only=True)
            out["files"][name] = [
                hashlib.sha256(Path(path).read_bytes()).hexdigest(), Path(path).resolve().name
            ]
        info = scan_cache_dir()
        out["warnings"] = [str(w) for w in info.warnings]
        out["repos"] = [
            [r.repo_id, sorted((v.commit_hash, sorted(v.refs), len(v.files)) for v in r.revisions)]
            for r in info.repos
        ]
        """,
        offline=True,
        repo=REPO,
        names=[f.path for f in FILES],
    )
    for file in FILES:
        assert out["files"][file.path] == [sha256(file.data), file.etag]
    assert out["warnings"] == []
    assert out["repos"] == [[REPO, [[commit, ["main"], len(FILES)]]]]
    tag = (cache / "CACHEDIR.TAG").read_text()
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    link = cache / "models--acme--tiny-bert" / "snapshots" / commit / "tokenizer" / "vocab.txt"
    assert os.readlink(link) == f"../../../blobs/{FILES[2].etag}"


def test_huggingface_hub_install_is_seen_and_verified(hub: TestHub, cache: Path) -> None:
    """A snapshot huggingface_hub downloaded is installed for model_fetch, verifiable offline."""
    hub.add_repo(REPO, FILES)
    commit = hub.commit_sha(REPO, "main")
    run_hf(
        hub,
        cache,
        """
        from huggingface_hub import snapshot_download
        out = snapshot_download(args["repo"])
        """,
        offline=False,
        repo=REPO,
    )
    before = len(hub.requests)
    with Downloader(store=str(cache), offline=True) as downloader:
        assert downloader.store.hf_cache
        result = downloader.download(REPO, source="huggingface")
        assert result.reused
        assert result.version == commit
        [model] = downloader.list_models()
        assert (model.name, model.version) == (REPO, commit)
        verified = downloader.verify(REPO)
        assert verified.ok, verified
    assert len(hub.requests) == before


def test_a_corrupted_blob_fails_verify(hub: TestHub, cache: Path) -> None:
    """Verify re-hashes each blob: bytes that no longer match their sha256 name are reported."""
    hub.add_repo(REPO, FILES)
    with Downloader(store="hf-cache") as downloader:
        downloader.download(REPO, source="huggingface")
        blob = cache / "models--acme--tiny-bert" / "blobs" / FILES[3].etag
        data = bytearray(blob.read_bytes())
        data[10] ^= 0xFF
        blob.write_bytes(bytes(data))
        assert not downloader.verify(REPO).ok


def test_shared_files_are_fetched_and_stored_once(hub: TestHub, cache: Path) -> None:
    """A second commit sharing all but one file downloads and stores only the changed file."""
    hub.add_repo(REPO, FILES)
    weights = HubFile(path="model.safetensors", data=payload(200_000, seed=32), lfs=True)
    changed = [*FILES[:-1], weights]
    with Downloader(store="hf-cache") as downloader:
        first = downloader.download(REPO, source="huggingface")
        second_commit = hub.add_commit(REPO, changed, ref="main")
        before = len(hub.requests)
        second = downloader.download(REPO, source="huggingface")
        assert second.version == second_commit != first.version
        fetched = [r.path for r in hub.requests[before:] if "/resolve/" in r.path]
        assert fetched == [f"/{REPO}/resolve/{second_commit}/model.safetensors"]
        blobs = sorted(p.name for p in (cache / "models--acme--tiny-bert" / "blobs").iterdir())
        assert blobs == sorted({f.etag for f in FILES} | {changed[-1].etag})
        # Removing the first commit keeps every blob the second one still points at.
        downloader.remove(REPO, first.version)
        blobs = sorted(p.name for p in (cache / "models--acme--tiny-bert" / "blobs").iterdir())
        assert blobs == sorted(f.etag for f in changed)
        downloader.remove(REPO, second.version)
    assert not (cache / "models--acme--tiny-bert").exists()


def test_transformers_reads_the_install_offline(hub: TestHub, cache: Path) -> None:
    """transformers.AutoConfig.from_pretrained(repo_id) offline finds model_fetch's install."""
    hub.add_repo(REPO, FILES)
    with Downloader(store="hf-cache") as downloader:
        downloader.download(REPO, source="huggingface")
    out = run_hf(
        hub,
        cache,
        """
        from transformers import AutoConfig
        out = AutoConfig.from_pretrained(args["repo"]).hidden_size
        """,
        offline=True,
        repo=REPO,
    )
    assert out == 8


def test_symlinks_disabled_puts_files_in_the_snapshot(
    hub: TestHub, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HF_HUB_DISABLE_SYMLINKS the snapshot holds the files, still read offline."""
    monkeypatch.setenv("HF_HUB_DISABLE_SYMLINKS", "1")
    hub.add_repo(REPO, FILES)
    with Downloader(store="hf-cache") as downloader:
        result = downloader.download(REPO, source="huggingface")
        assert downloader.verify(REPO).ok
    config = Path(result.directory) / "config.json"
    assert config.is_file()
    assert not config.is_symlink()
    out = run_hf(
        hub,
        cache,
        """
        from huggingface_hub import hf_hub_download
        out = Path(hf_hub_download(args["repo"], "config.json", local_files_only=True)).read_text()
        """,
        offline=True,
        repo=REPO,
    )
    assert out == FILES[0].data.decode()


@pytest.mark.timeout(150)
def test_fleet_mirror_fills_every_nodes_hf_cache(
    hub: TestHub, tmp_path: Path, s3: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The origin is read once per fleet; every node's hf-cache is then read offline by name."""
    mirror = f"s3://{s3.new_bucket()}/mirror"
    hub.add_repo(REPO, FILES)
    commit = hub.commit_sha(REPO, "main")
    caches = [tmp_path / f"node-{i}" / "hub" for i in range(3)]
    with Downloader(store=f"hf-cache:{caches[0]}", mirror=mirror) as node:
        node.download(REPO, source="huggingface")
    after_first = len(hub.requests)
    with Downloader(store=f"hf-cache:{caches[1]}", mirror=mirror) as node:
        assert not node.download(REPO, source="huggingface").reused
    with Downloader(store=f"hf-cache:{caches[2]}", mirror=mirror, offline=True) as node:
        node.download(REPO, commit, source="huggingface")
    assert [r.path for r in hub.requests[after_first:] if "/resolve/" in r.path] == []
    for cache, revision in zip(caches, ["main", "main", commit], strict=True):
        out = run_hf(
            hub,
            cache,
            """
            from huggingface_hub import hf_hub_download
            out = {
                name: Path(hf_hub_download(
                    args["repo"], name, revision=args["revision"], local_files_only=True
                )).resolve().name
                for name in args["names"]
            }
            """,
            offline=True,
            repo=REPO,
            revision=revision,
            names=[f.path for f in FILES],
        )
        assert out == {f.path: f.etag for f in FILES}, cache


def test_rest_api_over_a_hf_cache_store(hub: TestHub, cache: Path) -> None:
    """The REST API downloads into, lists, verifies and removes from a hf-cache store."""
    pytest.importorskip("fastapi", reason="the REST API needs the http extra")
    from fastapi.testclient import TestClient  # noqa: PLC0415 - the http extra, used here only

    from model_fetch.http import ServerSettings, create_app  # noqa: PLC0415

    hub.add_repo(REPO, FILES)
    commit = hub.commit_sha(REPO, "main")
    with (
        Downloader(store="hf-cache") as downloader,
        TestClient(create_app(downloader, ServerSettings(allowed_hosts=("testserver",)))) as client,
    ):
        response = client.post(
            "/model-download?wait=60", json={"model_name": REPO, "source": "huggingface"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["file_path"] == str(cache / "models--acme--tiny-bert" / "snapshots" / commit)
        listed = client.get("/models").json()
        assert [(m["name"], m["version"]) for m in listed["models"]] == [(REPO, commit)]
        removed = client.delete(f"/model-remove/{REPO}", params={"version": commit})
        assert removed.status_code == 200, removed.text
    assert not (cache / "models--acme--tiny-bert").exists()
