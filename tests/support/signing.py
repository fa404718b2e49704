"""Real OpenSSF model signatures for tests: generated EC keys, a self-made CA, model-signing.

Nothing here is a stand-in: :func:`sign_with_key` and :func:`sign_with_certificate` call the
``model-signing`` library's own signers, so the bundles are what a publisher would ship.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from model_signing import hashing, signing

if TYPE_CHECKING:
    from collections.abc import Iterable

# Tests import this module after pytest.importorskip("model_signing").


@attrs.frozen
class KeyPair:
    """A P-256 key pair written as PEM files."""

    private: Path
    public: Path


@attrs.frozen
class Chain:
    """A CA and a leaf certificate it issued, for ``certificate`` signing."""

    ca: Path
    leaf_key: Path
    leaf: Path
    subject: str
    email: str


def make_key(directory: Path, name: str = "signer") -> KeyPair:
    """Generate an EC P-256 key pair into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private=private, public=public)


def make_chain(directory: Path, name: str = "acme", email: str = "release@acme.example") -> Chain:
    """Generate a self-signed CA and a code-signing leaf certificate for ``email``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} release")])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Chain(
        ca=directory / f"{name}-ca.pem",
        leaf_key=directory / f"{name}-leaf.pem",
        leaf=directory / f"{name}-leaf.crt",
        subject=subject.rfc4514_string(),
        email=email,
    )
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.leaf.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths.leaf_key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _hashing(ignore: Iterable[str]) -> object:

    return hashing.Config().set_ignored_paths(paths=list(ignore))


def sign_with_key(
    model: Path, key: KeyPair, signature: Path | None = None, *, ignore: Iterable[str] = ()
) -> Path:
    """Sign the directory ``model`` with ``key``; the bundle goes to ``model/model.sig``.

    Like ``model_signing sign key``, the signature file itself is left out of the manifest.
    """
    signature = signature or model / "model.sig"
    left_out = [*ignore, signature.name] if signature.parent == model else list(ignore)
    signing.Config().use_elliptic_key_signer(private_key=key.private).set_hashing_config(
        _hashing(left_out)
    ).sign(model, signature)
    return signature


def sign_with_certificate(
    model: Path, chain: Chain, signature: Path | None = None, *, ignore: Iterable[str] = ()
) -> Path:
    """Sign the directory ``model`` with the chain's leaf certificate (``model/model.sig``)."""
    signature = signature or model / "model.sig"
    left_out = [*ignore, signature.name] if signature.parent == model else list(ignore)
    signing.Config().use_certificate_signer(
        private_key=chain.leaf_key,
        signing_certificate=chain.leaf,
        certificate_chain=[chain.ca],
    ).set_hashing_config(_hashing(left_out)).sign(model, signature)
    return signature


def write_model(directory: Path, files: dict[str, bytes]) -> Path:
    """Write a model's files (relative path -> bytes) into ``directory``."""
    for rel, data in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory
