"""The signature step of an install: the policy decides, the rule says how, the library verifies.

It runs on the staging area after every digest was verified and the archives were unpacked,
before the install record is written, so a model whose signature fails (or is missing under
``required``) is discarded with the staging area and never becomes visible as installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from model_fetch._log import get_logger
from model_fetch._models import SignatureCheck, strictest
from model_fetch._paths import validate_relpath
from model_fetch.exceptions import InvalidRequest, SignatureInvalid
from model_fetch.install.signing._rules import SIGNATURE_FILE, SigningConfig
from model_fetch.install.signing._verify import verify_model

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from model_fetch._models import SignaturePolicy
    from model_fetch.install.signing._rules import SigningRule

__all__ = ["check_signature", "effective_policy", "is_url"]

log = get_logger(__name__)

#: Unsigned, under ``if-present``: the absence is recorded.
UNSIGNED = SignatureCheck(method=None, identity=None, verified=False)


def is_url(location: str) -> bool:
    """Whether a signature location is fetched over http(s)."""
    return location.lower().startswith(("http://", "https://"))


def effective_policy(
    requested: SignaturePolicy, config: SigningConfig, rule: SigningRule | None
) -> SignaturePolicy:
    """The request's policy, tightened (never loosened) by the configuration and the rule."""
    return strictest(requested, config.policy, rule.policy if rule is not None else None)


def _locate(root: Path, location: str, fetch: Callable[[str], str | None] | None) -> Path | None:
    if is_url(location):
        if fetch is None:
            return None
        found = fetch(location)
        return Path(found) if found is not None else None
    if os.path.isabs(location):
        path = Path(location)
    else:
        try:
            path = root.joinpath(*validate_relpath(location).split("/"))
        except InvalidRequest:
            return None
    return path if path.is_file() else None


def check_signature(
    root: str | os.PathLike[str],
    *,
    model_name: str,
    version: str,
    source: str,
    requested: SignaturePolicy,
    config: SigningConfig,
    fetch: Callable[[str], str | None] | None = None,
    ignore: Iterable[str] = (),
) -> SignatureCheck | None:
    """Check a model's signature as the policy and the signing configuration say.

    Args:
        root: The model's directory (staging area or installed generation).
        model_name: The model's name (rules match it).
        version: The resolved version (``{version}`` in a signature location).
        source: The source that resolved it (rules may be per source).
        requested: The request's ``signature`` policy.
        config: The signing configuration (:func:`load_signing_config`).
        fetch: Fetches a signature URL into a local file, returning its path, or None when
            the server has none (404). None: signature URLs are not reachable here.
        ignore: Paths in ``root`` that are not part of the model (kept archives).

    Returns:
        None when the policy is ``off``; an unverified, unsigned check when there is no
        signature and it is not required; otherwise the verified check.

    Raises:
        SignatureInvalid: No signature under ``required`` (``no-signature``), no key or
            identity configured for a required one (``no-trust``), or the verification failed.
    """
    rule = config.rule_for(source, model_name)
    policy = effective_policy(requested, config, rule)
    if policy == "off":
        return None
    directory = Path(root)
    location = rule.location(model_name, version) if rule is not None else SIGNATURE_FILE
    signature = _locate(directory, location, fetch)
    if signature is None:
        if policy == "required":
            raise SignatureInvalid(
                f"Model {model_name!r} version {version!r} has no signature ({location}) and "
                "signature is 'required'",
                model_name=model_name,
                version=version,
                reason="no-signature",
            )
        log.info("Model %s %s is not signed (%s not found)", model_name, version, location)
        return UNSIGNED
    if rule is None:
        if policy == "required":
            raise SignatureInvalid(
                f"Model {model_name!r} version {version!r} is signed, but no key, certificate "
                f"or identity is configured for source {source!r} to verify it with; see "
                "docs/signing.md",
                model_name=model_name,
                version=version,
                reason="no-trust",
            )
        log.warning(
            "Model %s %s carries %s, but no signing rule matches it: not verified",
            model_name,
            version,
            location,
        )
        return UNSIGNED
    return verify_model(
        directory, signature, rule, model_name=model_name, version=version, ignore=ignore
    )
