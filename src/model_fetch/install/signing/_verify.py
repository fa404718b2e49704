"""Verify an OpenSSF model signature over a staged model, with the ``model-signing`` library.

The library checks the bundle (DSSE envelope, key, certificate chain or Sigstore identity) and
compares the signed manifest with the files on disk; this module chooses the verifier from a
:class:`SigningRule`, makes the signature file itself and the kept archives not part of the
model, and turns the library's failures into :class:`~model_fetch.exceptions.SignatureInvalid`
with a reason and the files it names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from model_fetch._log import get_logger
from model_fetch._models import SignatureCheck
from model_fetch.exceptions import SignatureInvalid

if TYPE_CHECKING:
    from collections.abc import Iterable

    from model_signing import verifying

    from model_fetch.install.signing._rules import SigningRule

__all__ = ["key_fingerprint", "verify_model"]

log = get_logger(__name__)

# The library's message quotes each name; a repr may escape the quotes.
_HASH_MISMATCH: Final = re.compile(r"Hash mismatch for \\?'(.+?)\\?':")
_INSTALL_HINT: Final = "pip install 'model_fetch[signing]'"


def key_fingerprint(pem: bytes) -> str:
    """The identity of a public key: ``sha256:<hex>`` of its PEM (the bundle's key hint)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - lazy

    key = serialization.load_pem_public_key(pem)
    canonical = key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


class _Failure:
    """Builds the SignatureInvalid of one model."""

    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, version

    def __call__(self, reason: str, why: str, files: Iterable[str] = ()) -> SignatureInvalid:
        named = tuple(sorted(files))
        shown = f": {', '.join(named)}" if named else ""
        return SignatureInvalid(
            f"Signature check failed for model {self.name!r} version {self.version!r} "
            f"({reason}): {why}{shown}",
            model_name=self.name,
            version=self.version,
            reason=reason,
            files=named,
        )


def _payload(bundle: dict[str, Any]) -> dict[str, Any]:
    """The (not yet verified) in-toto statement of a bundle: its hashing parameters and files."""
    envelope = bundle["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
    if not isinstance(statement, dict) or not isinstance(statement.get("predicate"), dict):
        raise TypeError("the statement has no predicate")
    return statement


def _read_bundle(signature: Path, fail: _Failure) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        bundle = json.loads(signature.read_text(encoding="utf-8"))
        if not isinstance(bundle, dict):
            raise TypeError("not a JSON object")  # noqa: TRY301 - one handler for every defect
        return bundle, _payload(bundle)
    except (OSError, ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise fail("unreadable", f"{signature.name} is not a model-signing bundle ({exc})") from exc


def _hashing(serialization: dict[str, Any], ignore: list[str]) -> Any:
    """The hashing configuration the signer used, plus the paths that are not the model's."""
    from model_signing import hashing  # noqa: PLC0415 - lazy: the optional extra

    method = serialization.get("method")
    common = {
        "hashing_algorithm": serialization.get("hash_type", "sha256"),
        "allow_symlinks": bool(serialization.get("allow_symlinks", False)),
    }
    config = hashing.Config()  # type: ignore[no-untyped-call]
    if method == "shards":
        config.use_shard_serialization(shard_size=int(serialization["shard_size"]), **common)
    else:
        config.use_file_serialization(**common)
    # The manifest's own ignore_paths are added by the verifier; git paths are ignored only if
    # the signer ignored them (they are then among those paths).
    return config.set_ignored_paths(paths=ignore, ignore_git_paths=False)


def _verifier(rule: SigningRule) -> verifying.Config:
    try:
        from model_signing import verifying  # noqa: PLC0415 - lazy: the optional extra
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test env
        raise ImportError(f"verifying signatures needs model-signing: {_INSTALL_HINT}") from exc
    config = verifying.Config()  # type: ignore[no-untyped-call]
    if rule.method == "key":
        assert rule.key is not None  # noqa: S101 - the rule's validator ensures it
        return config.use_elliptic_key_verifier(public_key=rule.key)
    if rule.method == "certificate":
        return config.use_certificate_verifier(certificate_chain=list(rule.certificates))
    assert rule.identity is not None  # noqa: S101 - the rule's validator ensures it
    assert rule.issuer is not None  # noqa: S101 - the rule's validator ensures it
    trust = Path(rule.trust_root) if rule.trust_root else None
    return config.use_sigstore_verifier(
        identity=rule.identity, oidc_issuer=rule.issuer, trust_config=trust
    )


def _on_disk(root: Path, ignored: list[str]) -> set[str]:
    """The model's files as the manifest names them, ignored paths left out."""
    found = set()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if not any(rel == item or rel.startswith(item.rstrip("/") + "/") for item in ignored):
                found.add(rel)
    return found


def _mismatch(
    root: Path, predicate: dict[str, Any], ignored: list[str], message: str, fail: _Failure
) -> SignatureInvalid:
    """Name what differs between the signed manifest and the files (the bundle is authentic)."""
    resources = predicate.get("resources") or []
    shards = predicate.get("serialization", {}).get("method") == "shards"
    signed = {
        str(item["name"]).rsplit(":", 2)[0] if shards else str(item["name"]) for item in resources
    }
    actual = _on_disk(root, ignored)
    extra, missing = actual - signed, signed - actual
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"not signed: {', '.join(sorted(extra))}")
        if missing:
            parts.append(f"signed but not installed: {', '.join(sorted(missing))}")
        return fail(
            "not-covered",
            "the signature does not cover exactly the installed files (" + "; ".join(parts) + ")",
            extra | missing,
        )
    changed = sorted(set(_HASH_MISMATCH.findall(message)) | _changed(root, predicate))
    return fail("digest-mismatch", "a file's digest differs from the signed manifest", changed)


def _changed(root: Path, predicate: dict[str, Any]) -> set[str]:
    """The files whose sha256 differs from a per-file sha256 manifest (empty for others)."""
    serialization = predicate.get("serialization") or {}
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        return set()
    changed = set()
    for item in predicate.get("resources") or []:
        path = root / str(item["name"])
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != item.get("digest"):
            changed.add(str(item["name"]))
    return changed


def _certificate_identity(bundle: dict[str, Any], rule: SigningRule, fail: _Failure) -> str:
    """The signing certificate's subject, checked against the rule's expected identity."""
    from cryptography import x509  # noqa: PLC0415 - lazy

    chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
    subject = leaf.subject.rfc4514_string()
    if rule.identity is None:
        return subject
    names = {subject}
    try:
        alternative = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names.update(str(value) for value in alternative.get_values_for_type(x509.RFC822Name))
        names.update(
            str(value) for value in alternative.get_values_for_type(x509.UniformResourceIdentifier)
        )
        names.update(str(value) for value in alternative.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    if rule.identity not in names:
        raise fail(
            "wrong-identity",
            f"the signing certificate belongs to {subject!r}, not {rule.identity!r}",
        )
    return rule.identity


def verify_model(
    root: str | os.PathLike[str],
    signature: str | os.PathLike[str],
    rule: SigningRule,
    *,
    model_name: str,
    version: str,
    ignore: Iterable[str] = (),
) -> SignatureCheck:
    """Verify a model directory against its signature bundle.

    Args:
        root: The model's directory (the staging area, or an installed generation).
        signature: The signature bundle file (``model.sig``), inside ``root`` or elsewhere.
        rule: How to verify it (method, key, certificates, identity).
        model_name: The model's name, for the error.
        version: The version, for the error.
        ignore: Paths relative to ``root`` that are not part of the model (kept archives).

    Returns:
        The method, the signer's identity, and ``verified=True``.

    Raises:
        SignatureInvalid: The bundle is unreadable (``unreadable``), signed by another key or
            certificate (``wrong-key``), by another identity (``wrong-identity``), does not
            cover exactly the files (``not-covered``) or a digest differs
            (``digest-mismatch``). Nothing is changed on disk.
    """
    model, bundle_path = Path(root), Path(signature)
    fail = _Failure(model_name, version)
    bundle, statement = _read_bundle(bundle_path, fail)
    ignored = list(ignore)
    try:
        inside = PurePosixPath(bundle_path.resolve().relative_to(model.resolve()).as_posix())
        ignored.append(str(inside))
    except ValueError:
        pass  # the signature is not in the model's directory
    serialization = statement["predicate"].get("serialization") or {}
    config = _verifier(rule).set_hashing_config(_hashing(serialization, ignored))
    try:
        config.verify(model, bundle_path)
    except ValueError as exc:
        if str(exc).startswith("Signature mismatch"):
            every = ignored + [str(item) for item in serialization.get("ignore_paths") or ()]
            raise _mismatch(model, statement["predicate"], every, str(exc), fail) from exc
        raise _refused(rule, exc, fail) from exc
    except Exception as exc:  # the verifiers raise cryptography, OpenSSL and sigstore errors
        raise _refused(rule, exc, fail) from exc
    if rule.method == "key":
        assert rule.key is not None  # noqa: S101 - the rule's validator ensures it
        identity = key_fingerprint(Path(rule.key).read_bytes())
    elif rule.method == "certificate":
        identity = _certificate_identity(bundle, rule, fail)
    else:
        identity = str(rule.identity)
    log.info("Signature of %s %s verified (%s, %s)", model_name, version, rule.method, identity)
    return SignatureCheck(method=rule.method, identity=identity, verified=True)


def _refused(rule: SigningRule, exc: BaseException, fail: _Failure) -> SignatureInvalid:
    detail = str(exc) or type(exc).__name__
    if rule.method == "key":
        why = f"it was not signed by the configured key {rule.key} ({detail})"
    elif rule.method == "certificate":
        why = f"its certificate does not chain to the configured CA ({detail})"
    else:
        why = f"it was not signed by {rule.identity} via {rule.issuer} ({detail})"
        # sigstore's identity policy names the certificate's SANs or issuer when they differ.
        if "SAN" in detail or "issuer" in detail.lower():
            return fail("wrong-identity", why)
    return fail("wrong-key", why)
