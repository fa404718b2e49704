"""Signed models through every front door: the test hub, a file server, the REST API, the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("model_signing", reason="needs the `signing` extra (model-signing)")

from fastapi.testclient import TestClient

from model_fetch import Downloader, SignatureInvalid
from model_fetch.http import ServerSettings, create_app
from model_fetch.install.signing import key_fingerprint
from model_fetch.transfer import UrlPolicy
from support.helpers import payload
from support.hfhub import HubFile, TestHub
from support.server import FileServer
from support.signing import (
    make_chain,
    make_key,
    sign_with_certificate,
    sign_with_key,
    write_model,
)

FILES = {
    "config.json": b'{"model_type": "mlp"}',
    "model.safetensors": payload(50_000, seed=7),
    "tokenizer/vocab.txt": b"[PAD]\nhello\n",
}


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pair = make_key(tmp_path / "keys")
    monkeypatch.setenv("MODEL_FETCH_SIGNING_KEY", str(pair.public))
    return pair


@pytest.fixture
def signed(tmp_path: Path, keys) -> Path:
    root = write_model(tmp_path / "signed", FILES)
    sign_with_key(root, keys)
    return root


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with TestHub().start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


def _hub_files(root: Path, *, lfs: tuple[str, ...] = ("model.safetensors",)) -> list[HubFile]:
    return [
        HubFile(
            path=path.relative_to(root).as_posix(), data=path.read_bytes(), lfs=path.name in lfs
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    ]


def _tarball(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=path.relative_to(root).as_posix())
    return buffer.getvalue()


def _nothing_installed(store: Path) -> None:
    assert list(store.glob("models/**/install.json")) == []
    with Downloader(store=store) as fresh:
        assert fresh.list_models() == []


def test_a_signed_hub_repo_installs_with_its_signer(
    downloader: Downloader, hub: TestHub, signed: Path, keys
) -> None:
    """A Hugging Face repo carrying model.sig is verified; result, info and record say who."""
    hub.add_repo("acme/signed-mlp", _hub_files(signed))
    result = downloader.download(
        "acme/signed-mlp", source="huggingface", options={"signature": "required"}
    )
    fingerprint = key_fingerprint(keys.public.read_bytes())
    expected = {"method": "key", "identity": fingerprint, "verified": True}
    assert result.signature is not None
    assert result.signature.to_dict() == expected
    assert result.to_dict()["signature"] == expected
    info = downloader.info("acme/signed-mlp")
    assert info.to_dict()["signature"] == expected
    assert downloader.verify("acme/signed-mlp").ok
    (listed,) = downloader.list_models()
    assert listed.to_dict()["signature"] == expected  # GET /models and list --json show it too


def test_a_tampered_hub_file_is_never_installed(
    downloader: Downloader, hub: TestHub, signed: Path, store: Path
) -> None:
    """A repo whose file changed after signing fails with the file named; nothing is installed."""
    files = [
        HubFile(path=f.path, data=b'{"model_type": "evil"}') if f.path == "config.json" else f
        for f in _hub_files(signed)
    ]
    hub.add_repo("acme/tampered", files)
    with pytest.raises(SignatureInvalid) as caught:
        downloader.download("acme/tampered", source="huggingface")
    assert caught.value.reason == "digest-mismatch"
    assert caught.value.files == ("config.json",)
    _nothing_installed(store)


def test_an_extra_hub_file_is_never_installed(
    downloader: Downloader, hub: TestHub, signed: Path, store: Path
) -> None:
    """A file added to the repo after signing is named and the model is not installed."""
    hub.add_repo("acme/extra", [*_hub_files(signed), HubFile(path="extra.py", data=b"print(1)")])
    with pytest.raises(SignatureInvalid) as caught:
        downloader.download("acme/extra", source="huggingface")
    assert caught.value.reason == "not-covered"
    assert caught.value.files == ("extra.py",)
    _nothing_installed(store)


def test_required_refuses_an_unsigned_repo(
    downloader: Downloader, hub: TestHub, tmp_path: Path, keys, store: Path
) -> None:
    """Under 'required' an unsigned repo is refused; under 'if-present' it installs unsigned."""
    unsigned = write_model(tmp_path / "unsigned", FILES)
    hub.add_repo("acme/unsigned", _hub_files(unsigned))
    with pytest.raises(SignatureInvalid) as caught:
        downloader.download(
            "acme/unsigned", source="huggingface", options={"signature": "required"}
        )
    assert caught.value.reason == "no-signature"
    _nothing_installed(store)
    result = downloader.download("acme/unsigned", source="huggingface")
    assert result.signature is None
    assert "signature" not in result.to_dict()
    record = json.loads(next(store.glob("models/**/install.json")).read_text())
    assert record["signature"] == {"method": None, "identity": None, "verified": False}


def test_an_unsigned_install_is_not_reused_under_required(
    downloader: Downloader, hub: TestHub, tmp_path: Path, keys
) -> None:
    """An install made without a signature does not satisfy a later 'required' request."""
    unsigned = write_model(tmp_path / "unsigned", FILES)
    hub.add_repo("acme/later", _hub_files(unsigned))
    downloader.download("acme/later", source="huggingface")
    with pytest.raises(SignatureInvalid):
        downloader.download("acme/later", source="huggingface", options={"signature": "required"})
    assert downloader.download("acme/later", source="huggingface").reused


def test_a_signed_archive_is_verified_after_extraction(
    downloader: Downloader, server: FileServer, signed: Path, keys
) -> None:
    """model.sig inside an archive covers the extracted files."""
    server.add_file("/mlp.tar.gz", _tarball(signed))
    result = downloader.download(
        "acme/archived",
        version="v1",
        download_url=server.url("/mlp.tar.gz"),
        options={"signature": "required"},
    )
    assert result.signature is not None
    assert result.signature.verified
    assert (Path(result.directory) / "tokenizer/vocab.txt").exists()


def test_a_signature_url_from_the_configuration(
    downloader: Downloader,
    server: FileServer,
    tmp_path: Path,
    keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rule's signature URL ({name}, {version}) is fetched and verifies a detached signature."""
    model = write_model(tmp_path / "detached", {"weights.bin": payload(20_000, seed=3)})
    detached = sign_with_key(model, keys, tmp_path / "weights.sig")
    server.add_file("/weights.bin", (model / "weights.bin").read_bytes())
    server.add_file("/sigs/acme/weights/v2.sig", detached.read_bytes())
    config = tmp_path / "signing.json"
    rule = {
        "pattern": "acme/*",
        "method": "key",
        "key": str(keys.public),
        "policy": "required",
        "signature": server.url("/sigs/{name}/{version}.sig"),
    }
    config.write_text(json.dumps({"rules": [rule]}))
    monkeypatch.setenv("MODEL_FETCH_SIGNING_CONFIG", str(config))
    result = downloader.download(
        "acme/weights", version="v2", download_url=server.url("/weights.bin")
    )
    assert result.signature is not None
    assert result.signature.verified
    with pytest.raises(SignatureInvalid) as caught:
        downloader.download("acme/other", version="v2", download_url=server.url("/weights.bin"))
    assert caught.value.reason == "no-signature"


def test_rest_answers_500_naming_the_reason(hub: TestHub, signed: Path, store: Path, keys) -> None:
    """POST /model-download of a tampered model is a 500 whose detail names file and reason."""
    files = [
        HubFile(path=f.path, data=b"changed") if f.path == "tokenizer/vocab.txt" else f
        for f in _hub_files(signed)
    ]
    hub.add_repo("acme/rest", files)
    settings = ServerSettings(
        allowed_hosts=("testserver",), url_policy=UrlPolicy(allow_private=True)
    )
    with (
        Downloader(store=store) as downloader,
        TestClient(create_app(downloader, settings)) as client,
    ):
        response = client.post(
            "/model-download",
            json={
                "model_name": "acme/rest",
                "source": "huggingface",
                "options": {"signature": "required"},
            },
        )
        if response.status_code == 202:  # slower than the synchronous window: ask the job
            job = downloader.jobs.get(response.json()["download_id"])
            with pytest.raises(SignatureInvalid):
                job.result()
            failed = client.get(f"/model-download/{job.download_id}/progress").json()
            status, detail = failed["status_code"], failed["error"]
        else:
            status, detail = response.status_code, response.json()["detail"]
        assert status == 500
        assert "digest-mismatch" in detail
        assert "tokenizer/vocab.txt" in detail
        models = client.get("/models").json()["models"]
        assert [entry for entry in models if entry["status"] == "available"] == []


def test_rest_refuses_an_unknown_policy(store: Path) -> None:
    """options.signature accepts only required, if-present and off (400 otherwise)."""
    settings = ServerSettings(allowed_hosts=("testserver",))
    with (
        Downloader(store=store) as downloader,
        TestClient(create_app(downloader, settings)) as client,
    ):
        response = client.post(
            "/model-download", json={"model_name": "x", "options": {"signature": "maybe"}}
        )
    assert response.status_code == 400


def _cli(store: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_fetch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MODEL_FETCH_HOME": str(store), **env},
        timeout=60,
        check=False,
    )


@pytest.mark.slow  # three CLI processes, each importing model-signing
def test_cli_exits_1_for_a_bad_signature_and_shows_a_good_one(
    hub: TestHub, signed: Path, tmp_path: Path, store: Path, keys
) -> None:
    """The CLI exits 1 with the reason on a wrong key; info and verify show a good signature."""
    hub.add_repo("acme/cli", _hub_files(signed))
    other = make_key(tmp_path / "other", "other")
    first = _cli(store, "download", "acme/cli", "--source", "huggingface")
    assert first.returncode == 0, first.stderr
    refused = _cli(
        store,
        "download",
        "acme/cli",
        "--source",
        "huggingface",
        "--force",
        MODEL_FETCH_SIGNING_KEY=str(other.public),
    )
    assert refused.returncode == 1
    assert "wrong-key" in refused.stderr
    info = _cli(store, "info", "acme/cli", "--json")
    assert json.loads(info.stdout)["signature"]["verified"] is True
    listing = _cli(store, "list")
    assert listing.stdout.splitlines()[0].split()[-1] == "SIGNED"
    assert listing.stdout.splitlines()[1].split()[-1] == "key"


def test_verify_rechecks_the_signature_over_the_files_on_disk(
    downloader: Downloader, hub: TestHub, signed: Path
) -> None:
    """A file dropped into an installed signed model passes the digest check, not the signature."""
    hub.add_repo("acme/recheck", _hub_files(signed))
    result = downloader.download("acme/recheck", source="huggingface")
    first = downloader.verify("acme/recheck")
    assert first.ok
    assert first.signature is not None
    assert first.to_dict()["signature"]["verified"] is True
    (Path(result.directory) / "planted.py").write_text("import os\n")
    again = downloader.verify("acme/recheck")
    assert again.missing == ()
    assert again.mismatched == ()
    assert not again.ok
    assert again.status == "corrupted"
    assert again.signature_error is not None
    assert "planted.py" in again.signature_error


@pytest.mark.slow  # three CLI processes, each importing model-signing
def test_cli_verify_exits_1_when_the_signature_no_longer_verifies(
    hub: TestHub, signed: Path, store: Path, keys
) -> None:
    """`model-fetch verify` re-checks the signature and names the file it does not cover."""
    hub.add_repo("acme/cli-verify", _hub_files(signed))
    installed = _cli(store, "download", "acme/cli-verify", "--source", "huggingface", "--json")
    assert installed.returncode == 0, installed.stderr
    ok = _cli(store, "verify", "acme/cli-verify")
    assert ok.returncode == 0
    assert "signature verified (key, sha256:" in ok.stdout
    directory = next(store.glob("models/**/config.json")).parent
    (directory / "planted.bin").write_bytes(b"x")
    broken = _cli(store, "verify", "acme/cli-verify")
    assert broken.returncode == 1
    assert "planted.bin" in broken.stderr


def test_an_org_on_the_hub_must_be_signed_by_its_identity(
    downloader: Downloader,
    hub: TestHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store: Path,
) -> None:
    """A rule for `acme/*` on huggingface requires Acme's certificate; other models pass."""
    acme = make_chain(tmp_path / "acme-pki", name="acme", email="release@acme.example")
    stranger = make_chain(tmp_path / "evil-pki", name="evil", email="release@acme.example")
    rule = {
        "source": "huggingface",
        "pattern": "acme/*",
        "method": "certificate",
        "certificates": [str(acme.ca)],
        "identity": "release@acme.example",
        "policy": "required",
    }
    config = tmp_path / "signing.json"
    config.write_text(json.dumps({"rules": [rule]}))
    monkeypatch.setenv("MODEL_FETCH_SIGNING_CONFIG", str(config))
    genuine = write_model(tmp_path / "genuine", FILES)
    sign_with_certificate(genuine, acme)
    forged = write_model(tmp_path / "forged", FILES)
    sign_with_certificate(forged, stranger)
    plain = write_model(tmp_path / "plain", FILES)
    hub.add_repo("acme/genuine", _hub_files(genuine))
    hub.add_repo("acme/forged", _hub_files(forged))
    hub.add_repo("acme/plain", _hub_files(plain))
    hub.add_repo("other/plain", _hub_files(plain))

    result = downloader.download("acme/genuine", source="huggingface")
    assert result.signature is not None
    assert result.signature.to_dict() == {
        "method": "certificate",
        "identity": "release@acme.example",
        "verified": True,
    }
    with pytest.raises(SignatureInvalid) as forged_error:
        downloader.download("acme/forged", source="huggingface")
    assert forged_error.value.reason == "wrong-key"
    with pytest.raises(SignatureInvalid) as unsigned_error:
        downloader.download("acme/plain", source="huggingface", options={"signature": "off"})
    assert unsigned_error.value.reason == "no-signature"
    assert downloader.download("other/plain", source="huggingface").signature is None
    names = {model.name for model in downloader.list_models()}
    assert names == {"acme/genuine", "other/plain"}


def test_the_policy_variable_requires_a_signature_everywhere(
    downloader: Downloader, server: FileServer, monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    """MODEL_FETCH_SIGNATURE=required refuses an unsigned download that asked for nothing."""
    monkeypatch.setenv("MODEL_FETCH_SIGNATURE", "required")
    server.add_file("/plain.bin", b"plain weights")
    with pytest.raises(SignatureInvalid) as caught:
        downloader.download("plain", version="v1", download_url=server.url("/plain.bin"))
    assert caught.value.reason == "no-signature"
    _nothing_installed(store)
