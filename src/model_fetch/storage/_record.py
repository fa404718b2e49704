"""The install record: the only proof that a version is completely installed.

The record is a small JSON document written last, beside the generation directory it names;
this module builds, encodes, decodes and validates it. Only :func:`read_record_file` and
:func:`load_record` touch a filesystem (the one they are given).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Final

import attrs

from model_fetch._models import FileRecord, Plan, SignatureCheck, iso_timestamp, parse_timestamp
from model_fetch._paths import model_id, validate_relpath
from model_fetch.storage._layout import PENDING_GENERATION, is_generation

__all__ = [
    "RECORD_FORMAT",
    "InstallRecord",
    "decode_record",
    "encode_record",
    "load_record",
    "make_record",
    "plan_etags",
    "read_record_file",
]

RECORD_FORMAT: Final = 1
_HEX: Final = re.compile(r"[0-9a-f]{40,128}")


@attrs.frozen(kw_only=True)
class InstallRecord:
    """The install record: the only proof that a version is completely installed.

    Attributes:
        name: The model's name.
        version: The version.
        source: The source that resolved it.
        download_url: Where it came from, with userinfo and query string redacted.
        files: Every installed file with its size and sha256.
        installed_at: When the record was committed.
        metadata: The request's metadata.
        model_id: The contract's model identifier.
        readiness: ``{"checked": <check or None>, "reason": <why not ready or None>}``.
        ready_for_inference: Whether a real model check passed.
        checksum_verified: Whether a digest was checked against the bytes.
        generation: The directory holding this install's files.
        primary: The main file's relative path (None for a multi-file model).
        listing: Every file path the source listed, before allow/ignore patterns (None in
            records that predate it).
        archives: Downloaded archives kept beside their extracted files
            (``cleanup_temp_files=false``).
        etags: The source's name for a file's bytes where it has one (a Hugging Face file's
            etag: the sha256 of an LFS file, the git blob id of the others); a hf-cache store
            names its blobs by it, and by the sha256 where there is none.
        signature: What the signature check found (None: not checked, or a record that
            predates it).
    """

    name: str
    version: str
    source: str
    download_url: str
    files: tuple[FileRecord, ...]
    installed_at: dt.datetime
    metadata: dict[str, Any]
    model_id: str
    readiness: dict[str, Any]
    ready_for_inference: bool
    checksum_verified: bool
    generation: str
    primary: str | None
    listing: tuple[str, ...] | None = None
    archives: tuple[str, ...] = ()
    etags: dict[str, str] = attrs.field(factory=dict)
    signature: SignatureCheck | None = None

    @property
    def size(self) -> int:
        """Total bytes of the installed files."""
        return sum(file.size for file in self.files)

    def to_json(self) -> dict[str, Any]:
        """Return the record's JSON document."""
        return {
            "format": RECORD_FORMAT,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "download_url": self.download_url,
            "files": [file.to_dict() for file in self.files],
            "installed_at": iso_timestamp(self.installed_at),
            "metadata": self.metadata,
            "model_id": self.model_id,
            "readiness": self.readiness,
            "ready_for_inference": self.ready_for_inference,
            "checksum_verified": self.checksum_verified,
            "generation": self.generation,
            "primary": self.primary,
            "listing": list(self.listing) if self.listing is not None else None,
            "archives": list(self.archives),
            "etags": dict(self.etags),
            "signature": self.signature.to_dict() if self.signature is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstallRecord:
        """Parse a record document.

        Raises:
            ValueError: The document is not a record this version understands.
        """
        if not isinstance(data, dict):
            # A ValueError like every other unreadable record: callers count it as not installed.
            raise ValueError(  # noqa: TRY004
                f"malformed install record: a {type(data).__name__}, not an object"
            )
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"unsupported install record format {data.get('format')!r}")
        try:
            files = tuple(
                FileRecord(
                    path=validate_relpath(f["path"]), size=int(f["size"]), sha256=str(f["sha256"])
                )
                for f in data["files"]
            )
            record = cls(
                name=str(data["name"]),
                version=str(data["version"]),
                source=str(data["source"]),
                download_url=str(data["download_url"]),
                files=files,
                installed_at=parse_timestamp(str(data["installed_at"])),
                metadata=dict(data.get("metadata") or {}),
                model_id=str(data["model_id"]),
                readiness=dict(data["readiness"]),
                ready_for_inference=bool(data["ready_for_inference"]),
                checksum_verified=bool(data["checksum_verified"]),
                generation=str(data["generation"]),
                primary=_optional_str(data.get("primary")),
                listing=tuple(str(p) for p in data["listing"]) if data.get("listing") else None,
                archives=tuple(validate_relpath(str(p)) for p in data.get("archives") or ()),
                etags=_etags(data.get("etags") or {}),
                signature=SignatureCheck.from_dict(data.get("signature")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed install record: {exc}") from exc
        if not is_generation(record.generation):
            raise ValueError(f"malformed install record: bad generation {record.generation!r}")
        if record.primary is not None and record.primary not in {f.path for f in record.files}:
            raise ValueError("malformed install record: primary is not one of its files")
        return record


def _etags(value: object) -> dict[str, str]:
    """Etags are hex digests only: they become a blob's file name."""
    if not isinstance(value, dict):
        raise TypeError(f"etags must be an object, not {type(value).__name__}")
    etags = {str(path): str(etag) for path, etag in value.items()}
    for etag in etags.values():
        if not _HEX.fullmatch(etag):
            raise ValueError(f"etag {etag!r} is not a hex digest")
    return etags


def plan_etags(plan: Plan) -> dict[str, str]:
    """The name the source gives each file's bytes: a Hub etag (git blob id, else sha256)."""
    etags: dict[str, str] = {}
    for remote in plan.files:
        digests = {checksum.algorithm: checksum.hexdigest for checksum in remote.checksums}
        etag = digests.get("git-blob-sha1") or digests.get("sha256")
        if etag is not None:
            etags[remote.path] = etag
    return etags


def encode_record(record: InstallRecord) -> bytes:
    """The bytes of a record file (indented, keys sorted)."""
    return json.dumps(record.to_json(), indent=2, sort_keys=True).encode()


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string or null, not {type(value).__name__}")


def decode_record(data: bytes) -> InstallRecord:
    """Parse the bytes of a record file.

    Raises:
        ValueError: They are not JSON, or not a record this version understands.
    """
    return InstallRecord.from_json(json.loads(data))


def read_record_file(fs: Any, path: str) -> InstallRecord:
    """Read and parse one record file on a filesystem.

    Raises:
        FileNotFoundError: There is none (the version is not installed).
        ValueError: It is not a record this version understands.
        OSError: It cannot be read.
    """
    with fs.open(path, "rb") as handle:
        return decode_record(handle.read())


def load_record(fs: Any, path: str) -> InstallRecord | None:
    """The record at ``path``, or None when it is missing or unreadable (nothing is logged)."""
    try:
        return read_record_file(fs, path)
    except (FileNotFoundError, ValueError, OSError):
        return None


def make_record(
    *,
    name: str,
    version: str,
    source: str,
    download_url: str,
    files: list[FileRecord],
    metadata: dict[str, Any],
    checksum_verified: bool,
    listing: tuple[str, ...] | None = None,
    readiness: dict[str, Any] | None = None,
    ready: bool = False,
    archives: tuple[str, ...] = (),
    etags: dict[str, str] | None = None,
    signature: SignatureCheck | None = None,
) -> InstallRecord:
    """Build an uncommitted install record (its generation is chosen at commit)."""
    return InstallRecord(
        name=name,
        version=version,
        source=source,
        download_url=download_url,
        files=tuple(files),
        installed_at=dt.datetime.now(dt.UTC),
        metadata=metadata,
        model_id=model_id(name, version),
        readiness=readiness or {"checked": None, "reason": "not checked"},
        ready_for_inference=ready,
        checksum_verified=checksum_verified,
        generation=PENDING_GENERATION,
        primary=files[0].path if len(files) == 1 else None,
        listing=listing,
        archives=archives,
        etags={path: etag for path, etag in (etags or {}).items() if _HEX.fullmatch(etag)},
        signature=signature,
    )
