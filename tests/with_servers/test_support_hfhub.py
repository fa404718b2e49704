"""The Hugging Face Hub test server in tests.support.hfhub works with huggingface_hub and urllib3.

huggingface_hub reads ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET`` and friends once
at import, so every check that drives it runs in a fresh subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
import urllib3

from support.hfhub import HubFile, TestHub, git_blob_oid

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REPO = "acme/tiny-model"
WEIGHTS = bytes(range(256)) * 1200  # 300 KiB, LFS
FILES = [
    HubFile(path="config.json", data=b'{"model_type": "tiny"}\n'),
    HubFile(path="README.md", data=b"# tiny\n"),
    HubFile(path="model.safetensors", data=WEIGHTS, lfs=True),
    HubFile(path="tokenizer/vocab.txt", data=b"a\nb\nc\n"),
    HubFile(path="tokenizer/merges.txt", data=b"a b\n"),
    HubFile(path="onnx/model.onnx", data=b"\x08\x07" * 5000, lfs=True),
]
TOKEN = "hf_test_token_123"

# Shared prelude of every subprocess: ``args`` comes from argv, ``out`` is printed as JSON.
_PRELUDE = """
import hashlib, json, sys
from pathlib import Path
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub import errors

args = json.loads(sys.argv[1])

def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

def error_of(fn):
    try:
        fn()
    except Exception as exc:
        return [type(exc).__name__, [c.__name__ for c in type(exc).__mro__]]
    return None
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub() -> Iterator[TestHub]:
    with TestHub(token=TOKEN) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=5.0))
    yield pool
    pool.clear()


def run_hf(hub: TestHub, home: Path, code: str, *, token: str | None = None, **args: Any) -> Any:
    """Run ``code`` against ``hub`` in a fresh interpreter; return its JSON ``out``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGING")) and "PROXY" not in k.upper()
    }
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="*",
    )
    if token is not None:
        env["HF_TOKEN"] = token
    script = _PRELUDE + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_hf_hub_download_regular_and_lfs_files(hub: TestHub, tmp_path: Path) -> None:
    """hf_hub_download gets a regular file from the hub and an LFS file via the CDN redirect."""
    sha = hub.add_repo(REPO, FILES)
    out = run_hf(
        hub,
        tmp_path,
        """
        out = {}
        for name in args["names"]:
            path = hf_hub_download(args["repo"], name)
            out[name] = [sha(path), Path(path).resolve().name]
        """,
        repo=REPO,
        names=["config.json", "model.safetensors", "tokenizer/vocab.txt"],
    )
    files = {f.path: f for f in FILES}
    for name, (digest, blob_name) in out.items():
        assert digest == sha256(files[name].data)
        assert blob_name == files[name].etag  # the cache names blobs after the ETag
    assert out["model.safetensors"][1] == sha256(WEIGHTS)
    assert out["config.json"][1] == git_blob_oid(files["config.json"].data)
    requests = hub.requests
    cdn = [r for r in requests if r.origin == "cdn"]
    assert [r.method for r in cdn] == ["GET"]
    cdn_path = urllib.parse.urlsplit(cdn[0].path).path
    assert cdn_path.startswith("/repos/")
    assert cdn_path.endswith(f"/{sha256(WEIGHTS)}")
    heads = {r.path: r.status for r in requests if r.method == "HEAD"}
    assert heads[f"/{REPO}/resolve/main/model.safetensors"] == 302
    assert heads[f"/{REPO}/resolve/main/config.json"] == 200
    assert all(not r.path.startswith(f"/{REPO}/resolve/{sha}") for r in requests)


def test_cdn_base_url_sends_lfs_downloads_to_another_server(tmp_path: Path) -> None:
    """With cdn_base_url, hf_hub_download takes the LFS bytes from that server, not the CDN."""
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / sha256(WEIGHTS)).write_bytes(WEIGHTS)
    served: list[str] = []

    class Blobs(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(blobs), **kwargs)

        def log_message(self, *_args: object) -> None:
            served.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Blobs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with TestHub(cdn_base_url=f"http://127.0.0.1:{server.server_address[1]}/") as hub:
            hub.add_repo(REPO, FILES)
            out = run_hf(
                hub,
                tmp_path / "home",
                'out = sha(hf_hub_download(args["repo"], "model.safetensors"))',
                repo=REPO,
            )
            requests = hub.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert out == sha256(WEIGHTS)
    assert served == [f"/{sha256(WEIGHTS)}"]
    assert [r.origin for r in requests] == ["hub"]  # the HEAD's 302; the built-in CDN is idle
    assert requests[0].status == 302


def test_renamed_repo_redirects_are_followed(hub: TestHub, tmp_path: Path) -> None:
    """After rename_repo, old URLs answer 307 with a relative Location that the client follows."""
    hub.add_repo("acme/old-name", FILES)
    hub.rename_repo("acme/old-name", REPO)
    out = run_hf(
        hub,
        tmp_path,
        """
        out = {
            "config": sha(hf_hub_download("acme/old-name", "config.json")),
            "weights": sha(hf_hub_download("acme/old-name", "model.safetensors")),
            "info": HfApi().model_info("acme/old-name").id,
        }
        """,
    )
    assert out == {"config": sha256(FILES[0].data), "weights": sha256(WEIGHTS), "info": REPO}
    trail = [(r.method, r.origin, r.path.partition("?")[0], r.status) for r in hub.requests]
    assert ("HEAD", "hub", "/acme/old-name/resolve/main/config.json", 307) in trail
    assert ("HEAD", "hub", f"/{REPO}/resolve/main/config.json", 200) in trail
    assert ("GET", "hub", f"/{REPO}/resolve/main/config.json", 200) in trail
    assert ("HEAD", "hub", f"/{REPO}/resolve/main/model.safetensors", 302) in trail
    assert ("GET", "hub", "/api/models/acme/old-name", 307) in trail


def test_snapshot_download_follows_tree_pagination(hub: TestHub, tmp_path: Path) -> None:
    """snapshot_download resolves the commit, pages through the tree and fetches every file."""
    sha = hub.add_repo(REPO, FILES)
    out = run_hf(
        hub,
        tmp_path,
        """
        root = Path(snapshot_download(args["repo"]))
        out = {
            "root": root.name,
            "files": {
                p.relative_to(root).as_posix(): sha(p) for p in root.rglob("*") if p.is_file()
            },
        }
        """,
        repo=REPO,
    )
    assert out["root"] == sha
    assert out["files"] == {f.path: sha256(f.data) for f in FILES}
    paths = [r.path for r in hub.requests if r.origin == "hub"]
    assert paths[0] == f"/api/models/{REPO}/revision/main"
    tree = [p for p in paths if p.startswith(f"/api/models/{REPO}/tree/{sha}")]
    # 6 files + 2 directories, 2 per page: the client followed Link: rel="next" 3 times.
    assert len(tree) == 4
    assert sum("cursor=" in p for p in tree) == 3


def test_pinned_commit_and_pull_request_revisions(hub: TestHub, tmp_path: Path) -> None:
    """Old commits stay downloadable by sha; refs/pr/1 is URL-encoded and resolved."""
    first = hub.add_repo(REPO, FILES)
    v2 = HubFile(path="model.safetensors", data=WEIGHTS[::-1], lfs=True)
    pr = HubFile(path="config.json", data=b'{"model_type": "pr"}\n')
    second = hub.add_commit(REPO, [*(f for f in FILES if f.path != v2.path), v2], ref="main")
    third = hub.add_commit(REPO, [*(f for f in FILES if f.path != pr.path), pr], ref="refs/pr/1")
    assert len({first, second, third}) == 3
    assert hub.commit_sha(REPO, "refs/pr/1") == third
    out = run_hf(
        hub,
        tmp_path,
        """
        out = {}
        for rev in args["revisions"]:
            out[rev] = [
                sha(hf_hub_download(args["repo"], "model.safetensors", revision=rev)),
                sha(hf_hub_download(args["repo"], "config.json", revision=rev)),
            ]
        out["pr-snapshot"] = Path(snapshot_download(args["repo"], revision="refs/pr/1")).name
        """,
        repo=REPO,
        revisions=[first, "main", "refs/pr/1"],
    )
    assert out[first] == [sha256(WEIGHTS), sha256(FILES[0].data)]
    assert out["main"] == [sha256(v2.data), sha256(FILES[0].data)]
    assert out["refs/pr/1"] == [sha256(WEIGHTS), sha256(pr.data)]
    assert out["pr-snapshot"] == third
    paths = [r.path for r in hub.requests]
    assert f"/{REPO}/resolve/refs%2Fpr%2F1/config.json" in paths
    assert f"/api/models/{REPO}/revision/refs%2Fpr%2F1" in paths


def test_model_info_with_files_metadata(hub: TestHub, tmp_path: Path) -> None:
    """model_info(files_metadata=True) reports the commit, sizes, blob ids and LFS sha256s."""
    sha = hub.add_repo(REPO, FILES)
    hub.add_commit(REPO, FILES[:2], ref="main")
    out = run_hf(
        hub,
        tmp_path,
        """
        info = HfApi().model_info(args["repo"], revision=args["sha"], files_metadata=True)
        out = {
            "id": info.id,
            "sha": info.sha,
            "private": info.private,
            "siblings": {
                s.rfilename: [s.size, s.blob_id, s.lfs.sha256 if s.lfs else None]
                for s in info.siblings
            },
        }
        """,
        repo=REPO,
        sha=sha,
    )
    assert out["id"] == REPO
    assert out["sha"] == sha
    assert out["private"] is False
    assert out["siblings"] == {
        f.path: [f.size, f.git_oid, sha256(f.data) if f.lfs else None] for f in FILES
    }


def test_list_repo_tree_recursive_across_pages(hub: TestHub, tmp_path: Path) -> None:
    """list_repo_tree(recursive=True) returns every file and directory across all pages."""
    hub.add_repo(REPO, FILES)
    pr = hub.add_commit(REPO, FILES[:1], ref="refs/pr/1")
    out = run_hf(
        hub,
        tmp_path,
        """
        api = HfApi()
        out = {
            "all": [
                [type(e).__name__, e.path, getattr(e, "lfs", None) and e.lfs.sha256]
                for e in api.list_repo_tree(args["repo"], recursive=True)
            ],
            "sub": [e.path for e in api.list_repo_tree(args["repo"], "tokenizer")],
            "expanded": [
                e.last_commit.oid for e in api.list_repo_tree(args["repo"], expand=True)
            ],
            "refs": [
                [r.ref, r.target_commit]
                for r in api.list_repo_refs(args["repo"], include_pull_requests=True).pull_requests
            ],
        }
        """,
        repo=REPO,
    )
    files = {f.path: f for f in FILES}
    assert sorted(p for kind, p, _ in out["all"] if kind == "RepoFile") == sorted(files)
    assert sorted(p for kind, p, _ in out["all"] if kind == "RepoFolder") == ["onnx", "tokenizer"]
    for kind, path, lfs in out["all"]:
        if kind == "RepoFile":
            assert lfs == (files[path].sha256 if files[path].lfs else None)
    assert out["sub"] == ["tokenizer/merges.txt", "tokenizer/vocab.txt"]
    assert set(out["expanded"]) == {hub.commit_sha(REPO, "main")}
    assert out["refs"] == [["refs/pr/1", pr]]
    tree = [r.path for r in hub.requests if "/tree/" in r.path]
    assert any("tree/main/tokenizer?" in p for p in tree)
    assert len(tree) > 4  # pagination was used


def test_missing_repo_revision_and_file_raise_typed_errors(hub: TestHub, tmp_path: Path) -> None:
    """Unknown repo, revision and file map to huggingface_hub's typed errors."""
    hub.add_repo(REPO, FILES)
    out = run_hf(
        hub,
        tmp_path,
        """
        api = HfApi()
        repo = args["repo"]
        out = {
            "dl-repo": error_of(lambda: hf_hub_download("acme/missing", "config.json")),
            "info-repo": error_of(lambda: api.model_info("acme/missing")),
            "dl-rev": error_of(lambda: hf_hub_download(repo, "config.json", revision="nope")),
            "info-rev": error_of(lambda: api.model_info(repo, revision="nope")),
            "tree-rev": error_of(lambda: list(api.list_repo_tree(repo, revision="nope"))),
            "dl-file": error_of(lambda: hf_hub_download(repo, "missing.bin")),
            "snapshot-rev": error_of(lambda: snapshot_download(repo, revision="nope")),
        }
        """,
        repo=REPO,
    )
    for key in ("dl-repo", "info-repo"):
        assert "RepositoryNotFoundError" in out[key][1], out[key]
    for key in ("dl-rev", "info-rev", "tree-rev", "snapshot-rev"):
        assert "RevisionNotFoundError" in out[key][1], out[key]
    assert "EntryNotFoundError" in out["dl-file"][1], out["dl-file"]
    missing = [r for r in hub.requests if r.path.endswith("/missing.bin")]
    assert [r.method for r in missing] == ["HEAD"]


def test_private_repo_needs_the_token_which_never_reaches_the_cdn(
    hub: TestHub, tmp_path: Path
) -> None:
    """A private repo is invisible without the token, downloads with it; the CDN never sees it."""
    hub.add_repo(REPO, FILES, private=True)
    hub.add_repo("acme/gated", FILES, gated=True)
    code = """
    out = {
        "info": error_of(lambda: HfApi().model_info(args["repo"])),
        "download": error_of(lambda: hf_hub_download(args["repo"], "model.safetensors")),
        "snapshot": error_of(lambda: snapshot_download(args["repo"])),
        "gated-info": error_of(lambda: HfApi().model_info("acme/gated")),
        "gated-download": error_of(lambda: hf_hub_download("acme/gated", "config.json")),
        "wrong-token": error_of(lambda: HfApi(token="hf_wrong").model_info(args["repo"])),
    }
    """
    denied = run_hf(hub, tmp_path / "anonymous", code, repo=REPO)
    assert denied["info"][0] == "RepositoryNotFoundError"
    assert denied["download"][0] == "RepositoryNotFoundError"
    assert denied["snapshot"][0] == "RepositoryNotFoundError"
    assert denied["gated-info"] is None  # gated metadata is public, as on the real Hub
    assert denied["gated-download"][0] == "GatedRepoError"  # a RepositoryNotFoundError subclass
    assert denied["wrong-token"][0] == "HfHubHTTPError"
    assert not [r for r in hub.requests if r.origin == "cdn"]

    hub.reset_requests()
    allowed = run_hf(
        hub,
        tmp_path / "authenticated",
        """
        root = Path(snapshot_download(args["repo"]))
        out = {p.relative_to(root).as_posix(): sha(p) for p in root.rglob("*") if p.is_file()}
        out["gated"] = sha(hf_hub_download("acme/gated", "model.safetensors"))
        """,
        token=TOKEN,
        repo=REPO,
    )
    assert allowed.pop("gated") == sha256(WEIGHTS)
    assert allowed == {f.path: sha256(f.data) for f in FILES}
    requests = hub.requests
    cdn = [r for r in requests if r.origin == "cdn"]
    assert len(cdn) == 3  # two LFS files of the private repo, one of the gated repo
    assert all("authorization" not in r.headers for r in cdn)
    assert all(
        r.headers.get("authorization") == f"Bearer {TOKEN}" for r in requests if r.origin == "hub"
    )


def test_huggingface_hub_does_not_hash_what_the_cdn_sends(hub: TestHub, tmp_path: Path) -> None:
    """A corrupted CDN body of the right size is accepted by hf_hub_download (size check only)."""
    hub.add_repo(REPO, FILES)
    hub.corrupt_cdn(REPO, "model.safetensors")
    out = run_hf(
        hub,
        tmp_path,
        "out = sha(hf_hub_download(args['repo'], 'model.safetensors'))",
        repo=REPO,
    )
    assert out == sha256(bytes(b ^ 0xFF for b in WEIGHTS))


def _cdn_location(hub: TestHub, http: urllib3.PoolManager, path: str) -> str:
    """HEAD the resolve URL of ``path`` and return the CDN ``Location`` it redirects to."""
    response = http.request("HEAD", hub.resolve_url(REPO, path), redirect=False)
    assert response.status == 302
    return response.headers["Location"]


def test_resolve_headers_for_lfs_and_regular_files(hub: TestHub, http: urllib3.PoolManager) -> None:
    """HEAD /resolve/ serves the commit, ETags and sizes huggingface_hub reads, no Xet headers."""
    sha = hub.add_repo(REPO, FILES)
    lfs = http.request("HEAD", hub.resolve_url(REPO, "model.safetensors"), redirect=False)
    assert lfs.status == 302
    assert lfs.headers["X-Repo-Commit"] == sha
    assert lfs.headers["X-Linked-Etag"] == f'"{sha256(WEIGHTS)}"'
    assert lfs.headers["X-Linked-Size"] == str(len(WEIGHTS))
    assert lfs.headers["Location"].startswith(f"{hub.cdn_endpoint}/repos/")
    assert hub.cdn_endpoint.startswith("http://localhost:")
    regular = http.request("HEAD", hub.resolve_url(REPO, "tokenizer/vocab.txt", revision=sha))
    assert regular.status == 200
    assert regular.headers["ETag"] == f'"{git_blob_oid(FILES[3].data)}"'
    assert regular.headers["Content-Length"] == "6"
    assert regular.headers["X-Repo-Commit"] == sha
    for response in (lfs, regular):
        assert not [h for h in response.headers if h.lower().startswith("x-xet")]
    missing = http.request("HEAD", hub.resolve_url(REPO, "nope.bin"))
    assert (missing.status, missing.headers["X-Error-Code"]) == (404, "EntryNotFound")
    assert missing.headers["X-Repo-Commit"] == sha


def test_cdn_serves_single_ranges(hub: TestHub, http: urllib3.PoolManager) -> None:
    """The CDN answers Range with 206 + Content-Range, and 416 past the end."""
    hub.add_repo(REPO, FILES)
    url = _cdn_location(hub, http, "model.safetensors")
    size = len(WEIGHTS)
    cases = {
        "bytes=10-19": (10, 19),
        "bytes=1000-": (1000, size - 1),
        "bytes=-100": (size - 100, size - 1),
        f"bytes={size - 5}-{size + 50}": (size - 5, size - 1),
    }
    for header, (start, end) in cases.items():
        response = http.request("GET", url, headers={"Range": header})
        assert response.status == 206, header
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert response.data == WEIGHTS[start : end + 1]
    past = http.request("GET", url, headers={"Range": f"bytes={size}-"})
    assert (past.status, past.headers["Content-Range"]) == (416, f"bytes */{size}")
    whole = http.request("GET", url)
    assert (whole.status, whole.data) == (200, WEIGHTS)
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"]
    still = http.request("GET", url, headers={"Range": "bytes=0-0", "If-Range": etag})
    assert (still.status, still.data) == (206, WEIGHTS[:1])
    changed = http.request("GET", url, headers={"Range": "bytes=0-0", "If-Range": '"other"'})
    assert (changed.status, len(changed.data)) == (200, size)


def test_hub_serves_ranges_of_regular_files(hub: TestHub, http: urllib3.PoolManager) -> None:
    """GET /resolve/ of a regular file honours a single Range."""
    hub.add_repo(REPO, FILES)
    response = http.request(
        "GET", hub.resolve_url(REPO, "config.json"), headers={"Range": "bytes=2-11"}
    )
    assert response.status == 206
    assert response.data == FILES[0].data[2:12]
    assert response.headers["Content-Range"] == f"bytes 2-11/{FILES[0].size}"


def test_cdn_requires_the_signed_query_string(hub: TestHub, http: urllib3.PoolManager) -> None:
    """The CDN refuses a URL whose query string was dropped, like a presigned CDN URL."""
    hub.add_repo(REPO, FILES)
    url = _cdn_location(hub, http, "model.safetensors")
    assert http.request("GET", url.partition("?")[0]).status == 403
    assert http.request("GET", url).status == 200


def test_corrupt_cdn_keeps_length_and_metadata(hub: TestHub, http: urllib3.PoolManager) -> None:
    """corrupt_cdn changes the bytes but not the size or the advertised sha256."""
    hub.add_repo(REPO, FILES)
    hub.corrupt_cdn(REPO, "model.safetensors")
    head = http.request("HEAD", hub.resolve_url(REPO, "model.safetensors"), redirect=False)
    assert head.headers["X-Linked-Etag"] == f'"{sha256(WEIGHTS)}"'
    body = http.request("GET", head.headers["Location"]).data
    assert len(body) == len(WEIGHTS)
    assert body != WEIGHTS
    with pytest.raises(ValueError, match="not an LFS file"):
        hub.corrupt_cdn(REPO, "config.json")


def test_commits_are_deterministic_git_objects() -> None:
    """Commit shas depend only on content and history; git blob ids match git's."""
    assert git_blob_oid(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    shas = []
    for _ in range(2):
        with TestHub() as hub:
            shas.append(hub.add_repo(REPO, FILES))
            shas.append(hub.add_commit(REPO, FILES[:3], ref="v1"))
    assert shas[:2] == shas[2:]
    assert shas[0] != shas[1]


def test_invalid_content_is_rejected() -> None:
    """Bad paths, duplicate paths and file/directory clashes are refused."""
    with pytest.raises(ValueError, match="invalid path"):
        HubFile(path="../escape", data=b"")
    with TestHub() as hub:
        with pytest.raises(ValueError, match="duplicate"):
            hub.add_repo(REPO, [FILES[0], FILES[0]])
        with pytest.raises(ValueError, match="both as file and as directory"):
            hub.add_repo(REPO, [HubFile(path="a", data=b""), HubFile(path="a/b", data=b"")])
        with pytest.raises(ValueError, match="invalid ref"):
            hub.add_repo(REPO, FILES, branch="a..b")


def test_urllib3_redirect_to_cdn_drops_authorization(
    hub: TestHub, http: urllib3.PoolManager
) -> None:
    """urllib3 following the 302 itself keeps Range but strips Authorization at the CDN origin."""
    hub.add_repo(REPO, FILES, private=True)
    url = hub.resolve_url(REPO, "model.safetensors")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = http.request(
        "GET", url, headers={**auth, "Range": "bytes=0-9"}, redirect=True, retries=3
    )
    assert (response.status, response.data) == (206, WEIGHTS[:10])
    head = http.request("HEAD", url, headers=auth, redirect=True, retries=3)
    assert "X-Repo-Commit" not in head.headers  # the metadata is on the 302, not the CDN's 200
    cdn = [r for r in hub.requests if r.origin == "cdn"]
    assert [(r.method, r.headers.get("range")) for r in cdn] == [
        ("GET", "bytes=0-9"),
        ("HEAD", None),
    ]
    assert all("authorization" not in r.headers for r in cdn)
    assert http.request("HEAD", url).status == 401  # the hub itself does need the token
