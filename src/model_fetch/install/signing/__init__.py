"""Provenance: verify OpenSSF model signatures (``model-signing``) before a model is installed.

Needs the ``signing`` extra (``pip install 'model_fetch[signing]'``) to verify; reading the
configuration does not. See docs/signing.md.
"""

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
