"""Keyless Sigstore signatures, verified offline against a trust root file.

The bundle is a real one from the public Sigstore instance (tests/support/data/, see the .txt
beside it). What cannot be tested here: signing (it needs an OIDC login, Fulcio and Rekor) and
refreshing the trust root through TUF (it needs the network); both are left to the library.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("model_signing", reason="needs the `signing` extra (model-signing)")
pytest.importorskip("sigstore", reason="needs sigstore (from model-signing)")

import sigstore

from model_fetch.exceptions import SignatureInvalid
from model_fetch.install.signing import SigningRule, verify_model
from support.signing import make_key, sign_with_key

DATA = Path(__file__).resolve().parents[3] / "support" / "data" / "sigstore-v1.1.0"
IDENTITY = "stefanb@us.ibm.com"
ISSUER = "https://sigstore.verify.ibm.com/oauth2"


@pytest.fixture
def trust_root(tmp_path: Path) -> Path:
    """A client trust configuration made of the production trusted root sigstore ships."""
    store = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    document = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((store / "trusted_root.json").read_text()),
        "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text()),
    }
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    shutil.copytree(DATA, root)
    return root


def _rule(trust_root: Path, identity: str = IDENTITY) -> SigningRule:
    return SigningRule(
        method="sigstore", identity=identity, issuer=ISSUER, trust_root=str(trust_root)
    )


def _verify(model: Path, rule: SigningRule):
    return verify_model(model, model / "model.sig", rule, model_name="ibm/demo", version="v1")


def test_a_keyless_signature_verifies_offline(model: Path, trust_root: Path) -> None:
    """A public-good Sigstore bundle verifies with no network; the identity is the signer's."""
    check = _verify(model, _rule(trust_root))
    assert check.to_dict() == {"method": "sigstore", "identity": IDENTITY, "verified": True}


def test_another_identity_is_refused(model: Path, trust_root: Path) -> None:
    """The certificate's identity must be the configured one."""
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, _rule(trust_root, identity="release@acme.example"))
    assert caught.value.reason == "wrong-identity"
    assert IDENTITY in str(caught.value)


def test_a_tampered_file_fails_under_sigstore(model: Path, trust_root: Path) -> None:
    """A file changed after keyless signing fails, naming it."""
    (model / "signme-2").write_bytes(b"changed\n")
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, _rule(trust_root))
    assert caught.value.reason == "digest-mismatch"
    assert caught.value.files == ("signme-2",)


def test_a_key_signed_bundle_is_no_sigstore_signature(
    model: Path, trust_root: Path, tmp_path: Path
) -> None:
    """A bundle signed with a plain key has no Sigstore certificate: method sigstore refuses it."""
    (model / "model.sig").unlink()
    sign_with_key(model, make_key(tmp_path / "keys"))
    with pytest.raises(SignatureInvalid) as caught:
        _verify(model, _rule(trust_root))
    assert caught.value.reason in {"wrong-key", "unreadable"}
