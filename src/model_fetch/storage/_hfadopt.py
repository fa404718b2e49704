"""What huggingface_hub installed into a hf-cache store: its snapshots, read as install records.

A snapshot that model_fetch did not write has no install record; it is described by one built
from the cache itself, so ``list``, ``info``, ``verify``, ``remove`` and the reuse of installed
files see it. Each file's sha256 is its blob's name where that is one (huggingface_hub names an
LFS blob by its sha256), and is computed from the bytes otherwise (regular git files are small).
Such a record says ``checksum_verified: false``: huggingface_hub checked sizes only; ``verify``
re-hashes the files and tells whether they hold what their blob names promise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from typing import TYPE_CHECKING, Final

from model_fetch._models import FileRecord
from model_fetch._paths import model_id
from model_fetch.storage._record import InstallRecord

if TYPE_CHECKING:
    from collections.abc import Iterator

    from model_fetch.storage._hflayout import HfLayout

__all__ = ["ADOPTED_GENERATION", "adopt_snapshot", "cached_snapshots"]

#: The generation of a record built from a snapshot (a hf-cache store ignores generations).
ADOPTED_GENERATION: Final = "g-0000000000000000"
_COMMIT: Final = re.compile(r"[0-9a-f]{40}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


def cached_snapshots(root: str) -> Iterator[tuple[str, str]]:
    """Every (repo id, commit) with a snapshot folder in the cache, records or not."""
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return
    for entry in entries:
        if not entry.startswith("models--"):
            continue
        repo_id = entry.removeprefix("models--").replace("--", "/")
        try:
            commits = sorted(os.listdir(os.path.join(root, entry, "snapshots")))
        except OSError:
            continue
        for commit in commits:
            if _COMMIT.fullmatch(commit):
                yield repo_id, commit


def adopt_snapshot(layout: HfLayout, name: str, version: str) -> InstallRecord | None:
    """A record describing a snapshot huggingface_hub wrote, or None when there is none.

    Only a commit's snapshot is adopted (huggingface_hub names them by commit), only when it
    holds at least one file whose blob is present, and never while model_fetch's directory of
    the version exists without a record: that is a commit or a removal of model_fetch's that did
    not finish (a process killed mid-way), not a download of huggingface_hub's.
    """
    if not _COMMIT.fullmatch(version):
        return None
    if os.path.isdir(layout.version_dir(name, version)):
        return None  # read_record found no install.json there
    snapshot = layout.generation_dir(name, version, ADOPTED_GENERATION)
    files = []
    for dirpath, _dirs, names in os.walk(snapshot):
        for file in sorted(names):
            path = os.path.join(dirpath, file)
            rel = os.path.relpath(path, snapshot).replace(os.sep, "/")
            try:
                size = os.path.getsize(path)
            except OSError:
                continue  # a link to a missing blob: that file is not installed
            files.append(FileRecord(path=rel, size=size, sha256=_sha256_of(path)))
    if not files:
        return None
    installed = dt.datetime.fromtimestamp(os.path.getmtime(snapshot), dt.UTC)
    files.sort(key=lambda f: f.path)
    return InstallRecord(
        name=name,
        version=version,
        source="huggingface",
        download_url=f"https://huggingface.co/{name}/tree/{version}",
        files=tuple(files),
        installed_at=installed,
        metadata={"installed_by": "huggingface_hub"},
        model_id=model_id(name, version),
        readiness={"checked": None, "reason": "installed by huggingface_hub, not checked"},
        ready_for_inference=False,
        checksum_verified=False,
        generation=ADOPTED_GENERATION,
        primary=files[0].path if len(files) == 1 else None,
    )


def _sha256_of(path: str) -> str:
    """The blob's name when it is a sha256 (an LFS file), else the hash of the bytes."""
    if os.path.islink(path):
        blob = os.path.basename(os.readlink(path))
        if _SHA256.fullmatch(blob):
            return blob
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
