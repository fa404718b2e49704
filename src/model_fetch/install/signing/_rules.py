"""Who must have signed what: signing rules per source and name pattern, from configuration.

Read at call time (every download reads them afresh), from, in this order:

1. the JSON file named by ``MODEL_FETCH_SIGNING_CONFIG`` (``{"rules": [...]}``), its rules in
   file order;
2. ``MODEL_FETCH_SIGNING_KEY``: a PEM public key that signs every other model (a last rule
   ``{"pattern": "*", "method": "key", "key": ...}``);
3. ``MODEL_FETCH_SIGNATURE``: the least policy of every request (``required`` makes every
   download need a signature; unset leaves each request its own, ``if-present`` by default).

The first rule whose ``source`` (when given) and ``pattern`` match a request decides how its
signature is checked.
"""

from __future__ import annotations

import fnmatch
import json
import os
from typing import TYPE_CHECKING, Any, Final, get_args

import attrs

from model_fetch._models import SIGNATURE_POLICIES, SignatureMethod, SignaturePolicy
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONFIG_VARIABLE",
    "KEY_VARIABLE",
    "POLICY_VARIABLE",
    "SIGNATURE_FILE",
    "SigningConfig",
    "SigningRule",
    "load_signing_config",
]

CONFIG_VARIABLE: Final = "MODEL_FETCH_SIGNING_CONFIG"
KEY_VARIABLE: Final = "MODEL_FETCH_SIGNING_KEY"
POLICY_VARIABLE: Final = "MODEL_FETCH_SIGNATURE"
#: Where a signature is looked for by default: the OpenSSF model-signing file in the model.
SIGNATURE_FILE: Final = "model.sig"
_METHODS: Final = frozenset(get_args(SignatureMethod))


def _method(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value not in _METHODS:
        raise InvalidRequest(
            f"signing rule: method must be one of {sorted(_METHODS)}, not {value!r}"
        )


def _optional_policy(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is not None and value not in SIGNATURE_POLICIES:
        raise InvalidRequest(
            f"signing rule: policy must be one of {list(SIGNATURE_POLICIES)}, not {value!r}"
        )


@attrs.frozen(kw_only=True)
class SigningRule:
    """How the signature of the models a rule matches is found and checked.

    Attributes:
        method: ``key`` (a PEM public key), ``certificate`` (a CA chain the signing certificate
            must chain to) or ``sigstore`` (an identity and OIDC issuer, checked against a
            Sigstore trust root).
        pattern: A glob over the model name (``org/*``); ``*`` by default.
        source: The source the rule applies to (``huggingface``); None for every source.
        key: The PEM public key file (method ``key``).
        certificates: The CA certificate files (PEM) the signing certificate must chain to
            (method ``certificate``).
        identity: The expected signer: the signing certificate's subject (RFC 4514, e.g.
            ``CN=release@acme.example``) or one of its subject alternative names (method
            ``certificate``, optional); the Sigstore identity (method ``sigstore``, required).
        issuer: The OIDC issuer of the Sigstore identity (method ``sigstore``).
        trust_root: A Sigstore client trust configuration file (JSON) for offline
            verification (method ``sigstore``); None uses the public Sigstore instance.
        policy: The least policy for these models (``required`` makes them need a signature);
            None leaves the request's.
        signature: Where the signature is: a path inside the model (``model.sig``, the
            default), an absolute path, or an http(s) URL; ``{name}`` and ``{version}`` are
            replaced by the model's name and resolved version.
    """

    method: SignatureMethod = attrs.field(validator=_method)
    pattern: str = "*"
    source: str | None = None
    key: str | None = None
    certificates: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    identity: str | None = None
    issuer: str | None = None
    trust_root: str | None = None
    policy: SignaturePolicy | None = attrs.field(default=None, validator=_optional_policy)
    signature: str = SIGNATURE_FILE

    def __attrs_post_init__(self) -> None:
        """Check that the method has what it needs."""
        if self.method == "key" and not self.key:
            raise InvalidRequest("signing rule: method 'key' needs 'key' (a PEM public key file)")
        if self.method == "certificate" and not self.certificates:
            raise InvalidRequest(
                "signing rule: method 'certificate' needs 'certificates' (CA files)"
            )
        if self.method == "sigstore" and not (self.identity and self.issuer):
            raise InvalidRequest("signing rule: method 'sigstore' needs 'identity' and 'issuer'")

    def matches(self, source: str, name: str) -> bool:
        """Whether the rule applies to a model of ``name`` resolved by ``source``."""
        return (self.source is None or self.source == source) and fnmatch.fnmatchcase(
            name, self.pattern
        )

    def location(self, name: str, version: str) -> str:
        """Where this model's signature is, placeholders filled in."""
        return self.signature.replace("{name}", name).replace("{version}", version)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SigningRule:
        """Build a rule from one object of the configuration file's ``rules``.

        Raises:
            InvalidRequest: An unknown key or a value of the wrong kind.
        """
        if not isinstance(data, dict):
            raise InvalidRequest("signing rule: each rule must be an object")
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(f"signing rule: unknown key(s) {unknown}; known: {sorted(known)}")
        certificates = data.get("certificates", ())
        if isinstance(certificates, str):
            certificates = (certificates,)
        try:
            return cls(**{**data, "certificates": tuple(certificates)})
        except TypeError as exc:
            raise InvalidRequest(f"signing rule: {exc}") from exc


@attrs.frozen(kw_only=True)
class SigningConfig:
    """The signing rules and the least policy, as configuration gives them.

    Attributes:
        rules: The rules, first match wins.
        policy: The least policy of every request (None: each request's own).
    """

    rules: tuple[SigningRule, ...] = ()
    policy: SignaturePolicy | None = attrs.field(default=None, validator=_optional_policy)

    def rule_for(self, source: str, name: str) -> SigningRule | None:
        """The first rule that applies to the model, or None."""
        return next((rule for rule in self.rules if rule.matches(source, name)), None)


def load_signing_config(environ: Mapping[str, str] | None = None) -> SigningConfig:
    """Read the signing configuration from the environment and its file (at call time).

    Args:
        environ: The environment to read (``os.environ`` by default).

    Raises:
        InvalidRequest: The file cannot be read or holds an invalid rule, or a variable holds
            an invalid value.
    """
    env = os.environ if environ is None else environ
    rules: list[SigningRule] = []
    path = env.get(CONFIG_VARIABLE, "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{CONFIG_VARIABLE}={path}: cannot be read: {exc}") from exc
        if not isinstance(document, dict) or not isinstance(document.get("rules", []), list):
            raise InvalidRequest(f'{CONFIG_VARIABLE}={path}: expected {{"rules": [...]}}')
        rules.extend(SigningRule.from_mapping(item) for item in document.get("rules", []))
    key = env.get(KEY_VARIABLE, "").strip()
    if key:
        rules.append(SigningRule(method="key", key=key))
    policy = env.get(POLICY_VARIABLE, "").strip() or None
    if policy is not None and policy not in SIGNATURE_POLICIES:
        raise InvalidRequest(
            f"{POLICY_VARIABLE} must be one of {list(SIGNATURE_POLICIES)}, not {policy!r}"
        )
    return SigningConfig(rules=tuple(rules), policy=policy)
