"""The pipeline's signature step, and whether an installed version satisfies a request's policy.

The step runs on the staging area after the digests were verified and the archives unpacked,
before the install record is written (:mod:`model_fetch.install.signing` does the checking; a
signature URL is fetched here, through the transfer engine and the request's URL policy).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from model_fetch._models import RemoteFile
from model_fetch.exceptions import ModelNotFound

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._models import DownloadRequest, SignatureCheck
    from model_fetch._tiers import Attempt
    from model_fetch.install.signing import SigningConfig
    from model_fetch.storage import InstallRecord, Store
    from model_fetch.transfer import Transfer

__all__ = ["SignatureStep", "recheck_signature"]


def _load_signing() -> SigningConfig:
    from model_fetch.install.signing import load_signing_config  # noqa: PLC0415 - lazy

    return load_signing_config()


class SignatureStep:
    """Checks signatures with the signing configuration it reads once per install.

    Args:
        transfer: Fetches signatures given by URL.
        signing: Returns the signing configuration; by default read from the environment
            and its file (docs/signing.md).
    """

    def __init__(
        self, transfer: Transfer, signing: Callable[[], SigningConfig] | None = None
    ) -> None:
        """Keep the transfer engine and the configuration reader."""
        self._transfer = transfer
        self._signing = signing or _load_signing

    def check(self, attempt: Attempt, archives: tuple[str, ...]) -> SignatureCheck | None:
        """Verify the staged model's signature as policy and configuration say (or raise).

        Raises:
            SignatureInvalid: See :func:`model_fetch.install.signing.check_signature`.
        """
        from model_fetch.install.signing import check_signature  # noqa: PLC0415 - lazy

        request, plan = attempt.request, attempt.plan
        fetched = f"{attempt.staging.rstrip(os.sep)}.sig"

        def fetch(url: str) -> str | None:
            if not attempt.origin_allowed:  # offline: the mirror may serve, the network not
                raise attempt.offline_error()
            try:
                self._transfer.fetch(
                    RemoteFile(url=url, path="model.sig"),
                    fetched,
                    request.options,
                    on_size=lambda _size: None,
                    on_position=lambda _position: None,
                    reserve=lambda _size: None,
                    cancel=attempt.cancel,
                    policy=attempt.policy,
                )
            except ModelNotFound:
                return None
            return fetched

        try:
            return check_signature(
                attempt.staging,
                model_name=request.model_name,
                version=plan.version,
                source=plan.source,
                requested=request.options.signature,
                config=self._signing(),
                fetch=fetch,
                ignore=archives,
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(fetched)

    def satisfied(self, request: DownloadRequest, record: InstallRecord) -> bool:
        """Whether an installed version may answer a request under its signature policy.

        Under ``required`` only a verified signature does; otherwise any install does.
        """
        from model_fetch.install.signing import effective_policy  # noqa: PLC0415 - lazy

        config = self._signing()
        rule = config.rule_for(record.source, record.name)
        if effective_policy(request.options.signature, config, rule) != "required":
            return True
        return record.signature is not None and record.signature.verified


def recheck_signature(
    store: Store,
    record: InstallRecord,
    signing: Callable[[], SigningConfig] | None = None,
) -> tuple[SignatureCheck | None, str | None]:
    """Verify an installed version's signature again over the files on disk.

    Only an install whose signature was verified is re-checked, on a local store, with the
    signing rule that matches it now and a signature in the model or at a path (a signature
    URL is not fetched again: its check at install time stands).

    Returns:
        The signature check, and None; or None and why it no longer verifies.
    """
    from model_fetch.exceptions import SignatureInvalid  # noqa: PLC0415 - beside its use
    from model_fetch.install.signing import (  # noqa: PLC0415 - lazy
        SigningConfig,
        check_signature,
        is_url,
    )

    signed = record.signature
    if signed is None or signed.method is None or not store.local:
        return (signed if signed is not None and signed.method else None), None
    config = (signing or _load_signing)()
    rule = config.rule_for(record.source, record.name)
    if rule is None:
        return None, (
            f"no signing rule matches {record.name!r} from {record.source!r} any more: "
            "the signature cannot be re-checked"
        )
    if is_url(rule.location(record.name, record.version)):
        return signed, None
    try:
        check = check_signature(
            store.generation_dir(record),
            model_name=record.name,
            version=record.version,
            source=record.source,
            requested="required",
            config=SigningConfig(rules=(rule,)),
            ignore=record.archives,
        )
    except SignatureInvalid as exc:
        return None, exc.message
    return check, None
