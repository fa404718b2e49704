"""The `huggingface` source against a Hugging Face-compatible hub on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_fetch import ChecksumMismatch, Downloader, DownloadFailed, ModelNotFound
from support.helpers import payload
from support.hfhub import HubFile, TestHub
from support.server import Fault, FileServer

TOKEN = "hf_testtoken1234567890"

FILES = [
    HubFile(path="config.json", data=b'{"model_type": "bert"}'),
    HubFile(path="README.md", data=b"# tiny bert\n"),
    HubFile(path="tokenizer/vocab.txt", data=b"[PAD]\n[UNK]\nhello\n"),
    HubFile(path="tokenizer/config.json", data=b'{"lower": true}'),
    HubFile(path="model.safetensors", data=payload(300_000, seed=21), lfs=True),
    HubFile(path="onnx/model.onnx", data=payload(200_000, seed=22), lfs=True),
]


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHub]:
    with TestHub(token=TOKEN).start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


@pytest.fixture
def repo(hub: TestHub) -> str:
    hub.add_repo("acme/tiny-bert", FILES)
    return "acme/tiny-bert"


def installed(result_dir: str) -> dict[str, bytes]:
    root = Path(result_dir)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_multi_file_snapshot(downloader: Downloader, hub: TestHub, repo: str) -> None:
    """Every file of the repo is installed at the resolved commit, each one verified."""
    result = downloader.download(repo, source="huggingface")
    commit = hub.commit_sha(repo, "main")
    assert result.version == commit
    assert result.checksum_verified
    assert installed(result.directory) == {f.path: f.data for f in FILES}
    info = downloader.info(repo)
    assert info.version == commit
    assert info.source == "huggingface"
    assert downloader.store.aliases(repo) == {"latest": commit}


def test_pinned_commit_and_refs(downloader: Downloader, hub: TestHub, repo: str) -> None:
    """A commit sha, a branch and refs/pr/N each resolve to their own commit."""
    first = hub.commit_sha(repo, "main")
    changed = [*FILES[:-1], HubFile(path="onnx/model.onnx", data=b"new onnx", lfs=True)]
    second = hub.add_commit(repo, changed, ref="main")
    pr = hub.add_commit(repo, [*FILES, HubFile(path="extra.txt", data=b"pr")], ref="refs/pr/1")
    old = downloader.download(repo, first, source="huggingface")
    assert installed(old.directory)["onnx/model.onnx"] == FILES[-1].data
    new = downloader.download(repo, "main", source="huggingface")
    assert new.version == second
    assert installed(new.directory)["onnx/model.onnx"] == b"new onnx"
    proposal = downloader.download(repo, "refs/pr/1", source="huggingface")
    assert proposal.version == pr
    assert installed(proposal.directory)["extra.txt"] == b"pr"


def test_two_refs_to_one_commit_share_one_copy(
    downloader: Downloader, hub: TestHub, repo: str
) -> None:
    """A tag and a branch at the same commit share one installed copy, with no second transfer."""
    hub.set_ref(repo, "refs/tags/v1", hub.commit_sha(repo, "main"))
    main = downloader.download(repo, "main", source="huggingface")
    hub.reset_requests()
    again = downloader.download(repo, "refs/tags/v1", source="huggingface")
    assert again.reused
    assert again.version == main.version
    assert again.file_path == main.file_path
    assert not [r for r in hub.requests if "/resolve/" in r.path or r.origin == "cdn"]
    assert sorted(downloader.store.aliases(repo)) == ["main", "refs/tags/v1"]


def test_patterns_select_files_and_grow_the_install(
    downloader: Downloader, hub: TestHub, repo: str
) -> None:
    """allow/ignore patterns pick files; a later, wider selection adds to the same version."""
    json_only = downloader.download(
        repo, source="huggingface", options={"allow_patterns": ["*.json"]}
    )
    assert sorted(installed(json_only.directory)) == ["config.json", "tokenizer/config.json"]
    assert not [r for r in hub.requests if r.origin == "cdn"], "no LFS file was fetched"
    commit = json_only.version
    hub.reset_requests()
    again = downloader.download(
        repo, commit, source="huggingface", options={"allow_patterns": ["config.json"]}
    )
    assert again.reused
    assert hub.requests == [], "a covered selection of a pinned commit needs no request"
    wider = downloader.download(
        repo,
        commit,
        source="huggingface",
        options={"allow_patterns": ["*.safetensors"], "ignore_patterns": ["onnx/*"]},
    )
    assert sorted(installed(wider.directory)) == [
        "config.json",
        "model.safetensors",
        "tokenizer/config.json",
    ]
    with pytest.raises(ModelNotFound, match="matches"):
        downloader.download(
            repo, commit, source="huggingface", options={"allow_patterns": ["*.gguf"]}
        )


def test_not_found(downloader: Downloader, repo: str) -> None:
    """A missing repo or revision is a 404; the repo message names HF_TOKEN."""
    with pytest.raises(ModelNotFound) as caught:
        downloader.download("acme/nope", source="huggingface")
    assert caught.value.status_code == 404
    assert "HF_TOKEN" in str(caught.value)
    with pytest.raises(ModelNotFound, match="version 'no-such-branch' not found"):
        downloader.download(repo, "no-such-branch", source="huggingface")


def test_corrupted_lfs_file_installs_nothing(
    downloader: Downloader, hub: TestHub, repo: str, store: Path
) -> None:
    """Same-size corruption on the CDN is caught by the sha256 check; nothing is installed."""
    hub.corrupt_cdn(repo, "model.safetensors")
    with pytest.raises(ChecksumMismatch) as caught:
        downloader.download(repo, source="huggingface")
    assert caught.value.path == "model.safetensors"
    assert downloader.list_models() == []
    assert not (store / ".staging").exists() or not any((store / ".staging").iterdir())


def test_private_repo_token_never_reaches_the_cdn(
    downloader: Downloader, hub: TestHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_TOKEN goes to the hub's origin only; the CDN redirect carries no Authorization."""
    hub.add_repo("acme/private", FILES, private=True)
    with pytest.raises(ModelNotFound, match="HF_TOKEN"):
        downloader.download("acme/private", source="huggingface")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = downloader.download("acme/private", source="huggingface")
    assert installed(result.directory)["model.safetensors"] == FILES[4].data
    hub_requests = [r for r in hub.requests if r.origin == "hub" and "/resolve/" in r.path]
    cdn_requests = [r for r in hub.requests if r.origin == "cdn"]
    assert hub_requests
    assert cdn_requests
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub_requests)
    assert all("authorization" not in r.headers for r in cdn_requests)


def test_a_paginated_file_list_is_read_to_its_end(
    downloader: Downloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repo whose file list spans several pages (``Link: rel="next"``) installs every file."""
    with TestHub(page_size=2).start() as paged:
        monkeypatch.setenv("HF_ENDPOINT", paged.endpoint)
        paged.add_repo("acme/paged", FILES)
        result = downloader.download("acme/paged", source="huggingface")
        pages = [r for r in paged.requests if "/tree/" in r.path]
    assert installed(result.directory) == {f.path: f.data for f in FILES}
    assert len(pages) == 4, "six files and two directories, two entries a page"


def test_a_next_page_on_another_host_gets_no_token(
    downloader: Downloader,
    hub: TestHub,
    server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token goes with every page, so a file list continuing elsewhere is not followed."""
    hub.add_repo("acme/private", FILES, private=True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with TestHub(token=TOKEN, page_size=2).start() as paged:
        monkeypatch.setenv("HF_ENDPOINT", paged.endpoint)
        paged.add_repo("acme/private", FILES, private=True)
        paged.next_page_base = server.url("").rstrip("/")
        with pytest.raises(DownloadFailed, match="another host"):
            downloader.download("acme/private", source="huggingface")
    assert server.requests == [], "nothing, and no token, went to the other host"
    assert downloader.list_models() == []


def test_the_token_huggingface_cli_login_stored_is_used(
    downloader: Downloader, hub: TestHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without HF_TOKEN, the token file of `huggingface-cli login` opens a private repo."""
    hub.add_repo("acme/private", FILES, private=True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text(TOKEN + "\n")
    result = downloader.download("acme/private", source="huggingface")
    assert installed(result.directory)["config.json"] == FILES[0].data
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "elsewhere"))  # where the file is not
    with pytest.raises(ModelNotFound, match="HF_TOKEN"):
        downloader.download("acme/private", source="huggingface", force_download=True)


def test_a_download_does_not_import_huggingface_hub(store: Path, hub: TestHub, repo: str) -> None:
    """The Hub's metadata comes over model_fetch's own client: no 0.9 s huggingface_hub import."""
    code = (
        "import sys\n"
        "from model_fetch import Downloader\n"
        "with Downloader(store=sys.argv[1]) as dl:\n"
        "    result = dl.download(sys.argv[2], source='huggingface')\n"
        "print(result.checksum_verified, 'huggingface_hub' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store), repo],
        env={**os.environ, "HF_ENDPOINT": hub.endpoint},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


def test_small_files_are_fetched_together(
    downloader: Downloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One small file stalling does not hold up the next: several are in flight at once."""
    stalled = HubFile(path="a.safetensors", data=payload(50_000, seed=31), lfs=True)
    other = HubFile(path="b.safetensors", data=payload(60_000, seed=32), lfs=True)
    with FileServer() as cdn, TestHub(cdn_base_url=cdn.url("")) as hub:
        for file in (stalled, other):
            cdn.add_file(f"/{file.sha256}", file.data)
        cdn.queue(f"/{stalled.sha256}", Fault(stall_after=0))  # silent until the read timeout
        hub.add_repo("acme/pair", [stalled, other])
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        result = downloader.download("acme/pair", source="huggingface", options={"timeout": 2})
        order = [r.path for r in cdn.requests]
    assert installed(result.directory) == {stalled.path: stalled.data, other.path: other.data}
    assert sorted(order) == sorted([f"/{stalled.sha256}"] * 2 + [f"/{other.sha256}"])
    assert order.index(f"/{other.sha256}") < len(order) - 1, "b was asked for before a's retry"


def test_gated_repo_without_token(downloader: Downloader, hub: TestHub) -> None:
    """A gated repo without a token fails with a clear error that names HF_TOKEN."""
    hub.add_repo("acme/gated", FILES, gated=True)
    with pytest.raises(ModelNotFound, match="HF_TOKEN"):
        downloader.download("acme/gated", source="huggingface")
    assert downloader.list_models() == []


def test_offline_serves_the_last_resolution(
    store: Path, hub: TestHub, repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HF_HUB_OFFLINE=1 a ref resolves to the commit it had when last downloaded."""
    with Downloader(store=store) as dl:
        online = dl.download(repo, "main", source="huggingface")
    hub.reset_requests()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with Downloader(store=store) as dl:
        offline = dl.download(repo, "main", source="huggingface")
    assert offline.reused
    assert offline.version == online.version
    assert hub.requests == []


def test_cli_with_source_huggingface(store: Path, hub: TestHub, repo: str) -> None:
    """`model-fetch download ORG/NAME --source huggingface` works end to end."""
    env = {**os.environ, "MODEL_FETCH_HOME": str(store), "HF_ENDPOINT": hub.endpoint}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "model_fetch",
            "download",
            repo,
            "--source",
            "huggingface",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["version"] == hub.commit_sha(repo, "main")
    assert body["checksum_verified"] is True


def test_rest_with_source_huggingface(store: Path, hub: TestHub, repo: str) -> None:
    """POST /model-download with source "huggingface" installs the repo at its commit."""
    from fastapi.testclient import TestClient  # noqa: PLC0415 - the http extra, used here only

    from model_fetch.http import ServerSettings, create_app  # noqa: PLC0415

    downloader = Downloader(store=store)
    with TestClient(
        create_app(downloader, ServerSettings(allowed_hosts=("testserver",)))
    ) as client:
        response = client.post(
            "/model-download?wait=60",
            json={"model_name": repo, "version": "main", "source": "huggingface"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == hub.commit_sha(repo, "main")
        assert response.json()["checksum_verified"] is True
        missing = client.post(
            "/model-download", json={"model_name": "acme/none", "source": "huggingface"}
        )
        assert missing.status_code == 404
    downloader.close()
