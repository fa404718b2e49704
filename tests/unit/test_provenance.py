"""The pipeline's signature step: offline mode, and reuse of installs under a policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_fetch._models import DownloadRequest, Plan, RemoteFile, SignatureCheck
from model_fetch._provenance import SignatureStep
from model_fetch._tiers import Attempt
from model_fetch.exceptions import OfflineModeError
from model_fetch.install.signing import SigningConfig, SigningRule
from model_fetch.storage import make_record


class _NoTransfer:
    """A transfer engine that must not be used."""

    def fetch(self, *_args: object, **_kwargs: object) -> None:
        raise AssertionError("the network was used")


def _attempt(staging: Path, *, origin_allowed: bool) -> Attempt:
    request = DownloadRequest(model_name="acme/mlp", options={"signature": "required"})
    plan = Plan(
        files=(RemoteFile(url="https://m.example/w.bin", path="w.bin"),),
        version="v1",
        download_url="https://m.example/w.bin",
        source="url",
    )
    return Attempt(
        request=request,
        plan=plan,
        staging=str(staging),
        tracker=None,  # type: ignore[arg-type]
        cancel=None,
        origin_allowed=origin_allowed,
        offline_error=lambda: OfflineModeError(
            "offline", model_name="acme/mlp", version="v1", variable="MODEL_FETCH_OFFLINE"
        ),
    )


def test_offline_never_fetches_a_signature_url(tmp_path: Path) -> None:
    """In offline mode a signature URL is an OfflineModeError, not a network request."""
    rule = SigningRule(method="key", key="k.pub", signature="https://sigs.example/{name}.sig")
    step = SignatureStep(_NoTransfer(), lambda: SigningConfig(rules=(rule,)))  # type: ignore[arg-type]
    (tmp_path / "w.bin").write_bytes(b"w")
    with pytest.raises(OfflineModeError):
        step.check(_attempt(tmp_path, origin_allowed=False), ())


def test_only_a_verified_install_satisfies_required() -> None:
    """Under 'required' an install is reused only when its signature was verified."""
    step = SignatureStep(_NoTransfer(), SigningConfig)  # type: ignore[arg-type]
    request = DownloadRequest(model_name="acme/mlp", options={"signature": "required"})

    def record(signature: SignatureCheck | None):
        return make_record(
            name="acme/mlp",
            version="v1",
            source="url",
            download_url="https://m.example/w.bin",
            files=[],
            metadata={},
            checksum_verified=True,
            signature=signature,
        )

    signed = SignatureCheck(method="key", identity="sha256:ab", verified=True)
    unsigned = SignatureCheck(method=None, identity=None, verified=False)
    assert step.satisfied(request, record(signed))
    assert not step.satisfied(request, record(unsigned))
    assert not step.satisfied(request, record(None))
    lenient = DownloadRequest(model_name="acme/mlp")
    assert step.satisfied(lenient, record(None))
