"""The signature policy of a request and what a signature check found.

``signature`` is one value shared by every front door: ``required`` (an unsigned or badly signed
model is never installed), ``if-present`` (the default: a present signature is verified and a bad
one fails the download; its absence is recorded) and ``off`` (nothing is checked).
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

import attrs

from model_fetch._contract import body, render

__all__ = [
    "SIGNATURE_POLICIES",
    "SignatureCheck",
    "SignatureMethod",
    "SignaturePolicy",
    "strictest",
]

SignaturePolicy = Literal["required", "if-present", "off"]
SignatureMethod = Literal["key", "certificate", "sigstore"]
#: The policies, weakest first.
SIGNATURE_POLICIES: Final[tuple[SignaturePolicy, ...]] = ("off", "if-present", "required")
_METHODS: Final = frozenset(get_args(SignatureMethod))


def strictest(*policies: SignaturePolicy | None) -> SignaturePolicy:
    """The strictest of the policies given (None counts as absent; ``if-present`` if none)."""
    given = [policy for policy in policies if policy is not None]
    if not given:
        return "if-present"
    return max(given, key=SIGNATURE_POLICIES.index)


@body("SignatureBody", "Who signed the installed files, and how; null when nothing was checked.")
@attrs.frozen(kw_only=True)
class SignatureCheck:
    """What the signature check of an install found.

    Attributes:
        method: ``key``, ``certificate`` or ``sigstore``; None when the model carried no
            signature (under ``signature="if-present"``).
        identity: Who signed: the key's fingerprint (``sha256:<hex>`` of its PEM), the signing
            certificate's subject, or the Sigstore identity; None when unsigned.
        verified: True only when the signature was verified over exactly the installed files.
    """

    method: SignatureMethod | None
    identity: str | None
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"method", "identity", "verified"}``."""
        return render(self)

    @classmethod
    def from_dict(cls, data: object) -> SignatureCheck | None:
        """Parse :meth:`to_dict`'s output (None stays None).

        Raises:
            TypeError: It is not such an object, or a key has the wrong type.
            ValueError: The method is unknown.
        """
        if data is None:
            return None
        if not isinstance(data, dict):
            raise TypeError(f"signature must be an object, not {type(data).__name__}")
        method, identity, verified = data.get("method"), data.get("identity"), data.get("verified")
        if method is not None and method not in _METHODS:
            raise ValueError(f"unknown signature method {method!r}")
        if identity is not None and not isinstance(identity, str):
            raise TypeError("signature identity must be a string")
        if not isinstance(verified, bool):
            raise TypeError("signature verified must be true or false")
        return cls(method=method, identity=identity, verified=verified)
