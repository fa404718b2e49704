"""Verifying real OpenSSF model signatures over a model directory (no network, no server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("model_signing", reason="needs the `signing` extra (model-signing)")

from model_fetch.exceptions import SignatureInvalid
from model_fetch.install.signing import (
    SigningConfig,
    SigningRule,
    check_signature,
    key_fingerprint,
    verify_model,
)
from support.signing import (
    make_chain,
    make_key,
    sign_with_certificate,
    sign_with_key,
    write_model,
)

FILES = {
    "config.json": b'{"model_type": "mlp"}',
    "weights/model.safetensors": b"\x08" * 4096,
    "README.md": b"# tiny\n",
}


@pytest.fixture
def keys(tmp_path: Path):
    return make_key(tmp_path / "keys")


@pytest.fixture
def model(tmp_path: Path, keys) -> Path:
    root = write_model(tmp_path / "model", FILES)
    sign_with_key(root, keys)
    return root


def _verify(model: Path, rule: SigningRule, signature: Path | None = None):
    return verify_model(
        model, signature or model / "model.sig", rule, model_name="acme/mlp", version="v1"
    )


def test_a_good_key_signature_verifies_and_names_the_key(model: Path, keys) -> None:
    """A model signed with the configured key verifies; the identity is the key's fingerprint."""
    check = _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert check.verified is True
    assert check.method == "key"
    assert check.identity == key_fingerprint(keys.public.read_bytes())
    assert check.identity.startswith("sha256:")


def test_a_tampered_file_fails_naming_it(model: Path, keys) -> None:
    """A file changed after signing fails as a digest mismatch naming the file."""
    (model / "weights/model.safetensors").write_bytes(b"\x09" * 4096)
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert caught.value.reason == "digest-mismatch"
    assert caught.value.files == ("weights/model.safetensors",)
    assert "weights/model.safetensors" in str(caught.value)


def test_an_extra_file_fails_naming_it(model: Path, keys) -> None:
    """A file added after signing is not covered: the error names it."""
    (model / "weights/extra.bin").write_bytes(b"new")
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert caught.value.reason == "not-covered"
    assert caught.value.files == ("weights/extra.bin",)


def test_a_missing_file_fails_naming_it(model: Path, keys) -> None:
    """A signed file that is not installed fails as not covered, naming the file."""
    (model / "README.md").unlink()
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert caught.value.reason == "not-covered"
    assert caught.value.files == ("README.md",)
    assert "signed but not installed: README.md" in str(caught.value)


def test_another_key_fails_as_wrong_key(model: Path, tmp_path: Path) -> None:
    """A signature by a key other than the configured one is refused as wrong-key."""
    other = make_key(tmp_path / "other", "other")
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(other.public)))
    assert caught.value.reason == "wrong-key"


def test_a_signature_for_another_model_fails(model: Path, keys, tmp_path: Path) -> None:
    """A genuine signature of a different model does not cover this one's files."""
    other = write_model(tmp_path / "other-model", {"config.json": b"{}", "w.bin": b"other"})
    sign_with_key(other, keys)
    shutil.copy(other / "model.sig", model / "model.sig")
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert caught.value.reason == "not-covered"
    assert "w.bin" in caught.value.files
    assert "weights/model.safetensors" in caught.value.files


def test_a_truncated_bundle_is_unreadable(model: Path, keys) -> None:
    """A cut-off model.sig is refused as unreadable, not as a crash."""
    text = (model / "model.sig").read_bytes()
    (model / "model.sig").write_bytes(text[: len(text) // 2])
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert caught.value.reason == "unreadable"


def test_a_changed_payload_fails_the_key_check(model: Path, keys) -> None:
    """A bundle whose statement was edited (a digest swapped) no longer verifies."""
    bundle = json.loads((model / "model.sig").read_text())
    bundle["dsseEnvelope"]["payload"] = bundle["dsseEnvelope"]["payload"][:-8] + "AAAAAA=="
    (model / "model.sig").write_text(json.dumps(bundle))
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, SigningRule(method="key", key=str(keys.public)))
    assert caught.value.reason in {"wrong-key", "unreadable"}


def test_a_signature_outside_the_model_verifies(tmp_path: Path, keys) -> None:
    """A detached signature (a path beside the model) covers exactly the model's files."""
    root = write_model(tmp_path / "detached", FILES)
    signature = sign_with_key(root, keys, tmp_path / "detached.sig")
    check = _verify(root, SigningRule(method="key", key=str(keys.public)), signature)
    assert check.verified is True


def test_the_signers_ignore_paths_are_honoured(tmp_path: Path, keys) -> None:
    """Files the signer left out (its ignore paths) may differ or be added freely."""
    root = write_model(tmp_path / "ignoring", {**FILES, "notes/local.txt": b"a"})
    sign_with_key(root, keys, ignore=["notes"])
    (root / "notes/local.txt").write_bytes(b"changed")
    (root / "notes/more.txt").write_bytes(b"added")
    assert _verify(root, SigningRule(method="key", key=str(keys.public))).verified


def test_a_certificate_signature_verifies_with_its_subject(tmp_path: Path) -> None:
    """A model signed by a CA-issued leaf verifies against the CA; identity is its subject."""
    chain = make_chain(tmp_path / "pki")
    root = write_model(tmp_path / "model", FILES)
    sign_with_certificate(root, chain)
    check = _verify(root, SigningRule(method="certificate", certificates=(str(chain.ca),)))
    assert check.method == "certificate"
    assert check.identity == chain.subject
    named = SigningRule(method="certificate", certificates=(str(chain.ca),), identity=chain.email)
    assert _verify(root, named).identity == chain.email


def test_a_certificate_from_another_ca_fails(tmp_path: Path) -> None:
    """A leaf certificate that does not chain to the configured CA is refused."""
    chain = make_chain(tmp_path / "pki")
    stranger = make_chain(tmp_path / "other-pki", name="evil")
    root = write_model(tmp_path / "model", FILES)
    sign_with_certificate(root, stranger)
    with pytest.raises(SignatureInvalid) as caught:
        _verify(root, SigningRule(method="certificate", certificates=(str(chain.ca),)))
    assert caught.value.reason == "wrong-key"


def test_a_certificate_of_another_identity_fails(tmp_path: Path) -> None:
    """A valid certificate for someone other than the expected identity is refused."""
    chain = make_chain(tmp_path / "pki")
    root = write_model(tmp_path / "model", FILES)
    sign_with_certificate(root, chain)
    rule = SigningRule(
        method="certificate", certificates=(str(chain.ca),), identity="ops@acme.example"
    )
    with pytest.raises(SignatureInvalid) as caught:
        _verify(root, rule)
    assert caught.value.reason == "wrong-identity"
    assert chain.subject in str(caught.value)


def _check(model: Path, config: SigningConfig, requested="if-present", **kwargs):
    return check_signature(
        model,
        model_name="acme/mlp",
        version="v1",
        source="huggingface",
        requested=requested,
        config=config,
        **kwargs,
    )


def test_required_without_a_signature_fails(tmp_path: Path, keys) -> None:
    """Under 'required', a model without model.sig fails with reason no-signature."""
    root = write_model(tmp_path / "unsigned", FILES)
    config = SigningConfig(rules=(SigningRule(method="key", key=str(keys.public)),))
    with pytest.raises(SignatureInvalid) as caught:
        _check(root, config, "required")
    assert caught.value.reason == "no-signature"
    assert "model.sig" in str(caught.value)


def test_if_present_without_a_signature_records_its_absence(tmp_path: Path, keys) -> None:
    """Under 'if-present', an unsigned model passes and is recorded as not verified."""
    root = write_model(tmp_path / "unsigned", FILES)
    config = SigningConfig(rules=(SigningRule(method="key", key=str(keys.public)),))
    check = _check(root, config)
    assert check is not None
    assert check.to_dict() == {"method": None, "identity": None, "verified": False}


def test_if_present_with_a_bad_signature_fails(model: Path, keys) -> None:
    """Under 'if-present', a signature that is present but wrong still fails the install."""
    (model / "config.json").write_bytes(b"{}")
    config = SigningConfig(rules=(SigningRule(method="key", key=str(keys.public)),))
    with pytest.raises(SignatureInvalid):
        _check(model, config)


def test_off_checks_nothing(model: Path, keys) -> None:
    """'off' skips the check, even of a broken signature, and records None."""
    (model / "config.json").write_bytes(b"{}")
    config = SigningConfig(rules=(SigningRule(method="key", key=str(keys.public)),))
    assert _check(model, config, "off") is None


def test_a_rule_policy_cannot_be_loosened_by_the_request(tmp_path: Path, keys) -> None:
    """A rule that says 'required' holds even when the request says 'off'."""
    root = write_model(tmp_path / "unsigned", FILES)
    rule = SigningRule(method="key", key=str(keys.public), pattern="acme/*", policy="required")
    with pytest.raises(SignatureInvalid) as caught:
        _check(root, SigningConfig(rules=(rule,)), "off")
    assert caught.value.reason == "no-signature"


def test_a_required_signature_with_no_rule_has_no_trust(model: Path) -> None:
    """A signature nobody configured a key for cannot satisfy 'required'."""
    with pytest.raises(SignatureInvalid) as caught:
        _check(model, SigningConfig(), "required")
    assert caught.value.reason == "no-trust"


def test_a_signature_url_is_fetched_through_the_callback(tmp_path: Path, keys) -> None:
    """A rule's URL location is fetched by the caller's callback, placeholders filled in."""
    root = write_model(tmp_path / "model", FILES)
    detached = sign_with_key(root, keys, tmp_path / "fetched.sig")
    asked = []

    def fetch(url: str) -> str:
        asked.append(url)
        return str(detached)

    rule = SigningRule(
        method="key", key=str(keys.public), signature="https://sigs.example/{name}/{version}.sig"
    )
    check = _check(root, SigningConfig(rules=(rule,)), "required", fetch=fetch)
    assert check is not None
    assert check.verified
    assert asked == ["https://sigs.example/acme/mlp/v1.sig"]


def test_a_kept_archive_is_not_part_of_the_model(model: Path, keys) -> None:
    """An archive kept beside its extracted files (cleanup off) is left out of the manifest."""
    (model / "bundle.tar.gz").write_bytes(b"archive bytes")
    config = SigningConfig(rules=(SigningRule(method="key", key=str(keys.public)),))
    check = _check(model, config, "required", ignore=("bundle.tar.gz",))
    assert check is not None
    assert check.verified
