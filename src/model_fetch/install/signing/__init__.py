"""Provenance: verify OpenSSF model signatures (``model-signing``) before a model is installed.

Needs the ``signing`` extra (``pip install 'model_fetch[signing]'``) to verify; reading the
configuration does not. See docs/signing.md.
"""

from typing import TYPE_CHECKING

from model_fetch._lazy import lazy_exports

if TYPE_CHECKING:
    from model_fetch.install.signing._check import check_signature, effective_policy, is_url
    from model_fetch.install.signing._rules import (
        CONFIG_VARIABLE,
        KEY_VARIABLE,
        POLICY_VARIABLE,
        SIGNATURE_FILE,
        SigningConfig,
        SigningRule,
        load_signing_config,
    )
    from model_fetch.install.signing._verify import key_fingerprint, verify_model

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(("check_signature", "effective_policy", "is_url"), "._check"),
        **dict.fromkeys(
            (
                "CONFIG_VARIABLE",
                "KEY_VARIABLE",
                "POLICY_VARIABLE",
                "SIGNATURE_FILE",
                "SigningConfig",
                "SigningRule",
                "load_signing_config",
            ),
            "._rules",
        ),
        **dict.fromkeys(("key_fingerprint", "verify_model"), "._verify"),
    },
)

__all__ = [
    "CONFIG_VARIABLE",
    "KEY_VARIABLE",
    "POLICY_VARIABLE",
    "SIGNATURE_FILE",
    "SigningConfig",
    "SigningRule",
    "check_signature",
    "effective_policy",
    "is_url",
    "key_fingerprint",
    "load_signing_config",
    "verify_model",
]
