"""Digest checks: a fetched file against every digest its plan knows, an install against its record.

The transfer engine, the mirror's copy and ``model-fetch verify`` all end here, so a digest is
compared in one place: a mismatch raises :class:`~model_fetch.ChecksumMismatch` naming the
file, the algorithm and both digests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from model_fetch._log import redact_url
from model_fetch._models import VerifyResult
from model_fetch.exceptions import ChecksumMismatch

if TYPE_CHECKING:
    from collections.abc import Mapping

    from model_fetch._models import RemoteFile
    from model_fetch.storage import InstallRecord, Store
    from model_fetch.transfer import FetchOutcome

__all__ = ["verify_digests", "verify_installed", "verify_outcome"]


def verify_digests(remote: RemoteFile, *, sha256: str, digests: Mapping[str, str]) -> None:
    """Check every digest the plan knows for a file against the digests of its bytes.

    Args:
        remote: The planned file with its expected digests (and sha256 prefix).
        sha256: The hex sha256 of the bytes.
        digests: The hex digests of the bytes by algorithm (each one ``remote`` expects).

    Raises:
        ChecksumMismatch: On the first digest that differs.
    """
    expected = [(c.algorithm, c.hexdigest, digests[c.algorithm]) for c in remote.checksums]
    if remote.sha256_prefix is not None:
        expected.append(
            ("sha256-prefix", remote.sha256_prefix, sha256[: len(remote.sha256_prefix)]),
        )
    for algorithm, want, got in expected:
        if want != got:
            url = redact_url(remote.url)
            raise ChecksumMismatch(
                f"Checksum mismatch for {remote.path} from {url}: expected "
                f"{algorithm}:{want}, got {algorithm}:{got}",
                url=url,
                path=remote.path,
                algorithm=algorithm,
                expected=want,
                actual=got,
            )


def verify_outcome(remote: RemoteFile, outcome: FetchOutcome) -> None:
    """Check a transfer's outcome against the plan's digests (see :func:`verify_digests`)."""
    verify_digests(remote, sha256=outcome.sha256, digests=outcome.digests)


def verify_installed(store: Store, record: InstallRecord) -> VerifyResult:
    """Re-hash an installed version's files and compare them with its install record."""
    if not store.is_intact(record):
        # A missing object may mean the record switched to a new generation: re-read once.
        record = store.read_record(record.name, record.version) or record
    missing: list[str] = []
    mismatched: list[dict[str, Any]] = []
    for file in record.files:
        actual = store.hash_file(record, file.path)
        if actual is None:
            missing.append(file.path)
        elif actual != (file.size, file.sha256):
            mismatched.append(
                {
                    "path": file.path,
                    "expected_size": file.size,
                    "actual_size": actual[0],
                    "expected_sha256": file.sha256,
                    "actual_sha256": actual[1],
                },
            )
    return VerifyResult(
        model_name=record.name,
        version=record.version,
        checked_files=len(record.files),
        missing=tuple(missing),
        mismatched=tuple(mismatched),
    )
