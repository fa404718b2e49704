"""Signing rules from the environment and the configuration file, read at call time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_fetch.exceptions import InvalidRequest
from model_fetch.install.signing import SigningRule, load_signing_config


def test_no_configuration_means_no_rules() -> None:
    """Without the variables there is no rule and no least policy."""
    config = load_signing_config({})
    assert config.rules == ()
    assert config.policy is None
    assert config.rule_for("huggingface", "acme/mlp") is None


def test_file_rules_match_by_source_and_pattern_first_match_wins(tmp_path: Path) -> None:
    """`org/*` on the huggingface source picks that org's rule; other models fall through."""
    document = {
        "rules": [
            {
                "source": "huggingface",
                "pattern": "acme/*",
                "method": "certificate",
                "certificates": "/etc/acme-ca.pem",
                "identity": "release@acme.example",
                "policy": "required",
            },
            {"pattern": "*", "method": "key", "key": "/etc/any.pub"},
        ]
    }
    path = tmp_path / "signing.json"
    path.write_text(json.dumps(document))
    config = load_signing_config({"MODEL_FETCH_SIGNING_CONFIG": str(path)})
    acme = config.rule_for("huggingface", "acme/mlp")
    assert acme is not None
    assert acme.method == "certificate"
    assert acme.certificates == ("/etc/acme-ca.pem",)
    assert acme.policy == "required"
    fallback = config.rule_for("url", "acme/mlp")
    assert fallback is not None
    assert fallback.method == "key"


def test_the_key_variable_is_a_last_catch_all_rule(tmp_path: Path) -> None:
    """MODEL_FETCH_SIGNING_KEY verifies whatever the file's rules do not match."""
    path = tmp_path / "signing.json"
    path.write_text(json.dumps({"rules": [{"pattern": "acme/*", "method": "key", "key": "a"}]}))
    config = load_signing_config(
        {"MODEL_FETCH_SIGNING_CONFIG": str(path), "MODEL_FETCH_SIGNING_KEY": "/k.pub"}
    )
    rule = config.rule_for("default", "resnet50")
    assert rule is not None
    assert rule.key == "/k.pub"
    assert config.rule_for("default", "acme/x").key == "a"  # type: ignore[union-attr]


def test_the_policy_variable_sets_the_least_policy() -> None:
    """MODEL_FETCH_SIGNATURE=required applies to every request; a bad value is refused."""
    assert load_signing_config({"MODEL_FETCH_SIGNATURE": "required"}).policy == "required"
    with pytest.raises(InvalidRequest, match="MODEL_FETCH_SIGNATURE"):
        load_signing_config({"MODEL_FETCH_SIGNATURE": "always"})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"method": "key"}, "needs 'key'"),
        ({"method": "certificate"}, "needs 'certificates'"),
        ({"method": "sigstore", "identity": "me@x"}, "needs 'identity' and 'issuer'"),
        ({"method": "gpg", "key": "k"}, "method must be one of"),
        ({"method": "key", "key": "k", "colour": "red"}, "unknown key"),
        ({"method": "key", "key": "k", "policy": "sometimes"}, "policy must be one of"),
    ],
)
def test_an_invalid_rule_is_refused_with_its_reason(
    tmp_path: Path, rule: dict[str, str], message: str
) -> None:
    """A rule the verifier could not use is an InvalidRequest saying what is missing."""
    path = tmp_path / "signing.json"
    path.write_text(json.dumps({"rules": [rule]}))
    with pytest.raises(InvalidRequest, match=message):
        load_signing_config({"MODEL_FETCH_SIGNING_CONFIG": str(path)})


def test_an_unreadable_file_names_the_variable(tmp_path: Path) -> None:
    """A missing or malformed file is refused, naming MODEL_FETCH_SIGNING_CONFIG."""
    with pytest.raises(InvalidRequest, match="MODEL_FETCH_SIGNING_CONFIG"):
        load_signing_config({"MODEL_FETCH_SIGNING_CONFIG": str(tmp_path / "absent.json")})


def test_a_location_fills_in_name_and_version() -> None:
    """{name} and {version} in a signature location are the model's."""
    rule = SigningRule(method="key", key="k", signature="https://s.example/{name}@{version}.sig")
    assert rule.location("acme/mlp", "abc123") == "https://s.example/acme/mlp@abc123.sig"
