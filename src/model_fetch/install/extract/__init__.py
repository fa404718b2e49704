"""Safe extraction of downloaded archives: zip, tar (plain or compressed) and single-file streams.

An archive is extracted only when its *name* says archive (by suffix) and its *bytes* agree (by
magic number); a disagreement is an error, never a guess. Model files are never unpacked, even
though ``torch.save`` writes a zip: names ending in a model suffix (``.pt``, ``.safetensors``, ...)
are never archives, and neither is a zip holding a ``data.pkl`` record.

Extraction is stricter than :mod:`tarfile`'s ``filter="data"`` (which this interpreter runs with
known bypasses) and than :meth:`zipfile.ZipFile.extractall` (which silently rewrites unsafe
names):

1. Every member is checked *before anything is written*, and the whole archive is refused if any
   member is a link, a device, a FIFO or anything else that is not a regular file or a directory;
   has an absolute name, ``..``, a backslash, a drive letter or a NUL; duplicates another member;
   lies inside a file member; or exceeds the depth, path-length or member-count limits. Tar members
   also pass ``tarfile.data_filter`` as a second layer, and zip entries must not overlap.
2. Files are written only into an existing, empty directory, through paths built from that
   directory and validated segments, with mode ``0o644`` (directories ``0o755``).
3. The bytes *actually written* are counted (header sizes are never trusted) and extraction stops
   at the per-file, total and compression-ratio limits, which defeats zip and gzip bombs.
4. On any failure everything written is removed, leaving the directory empty, and
   :class:`UnsafeArchive` is raised. (An ``OSError`` from writing, such as a full disk, is raised
   as it is, after the same clean-up.)
"""

from model_fetch.install.extract._extract import extract
from model_fetch.install.extract._kinds import ARCHIVE_KINDS, MODEL_SUFFIXES, archive_kind
from model_fetch.install.extract._values import (
    DEFAULT_LIMITS,
    ExtractedFile,
    ExtractLimits,
    UnsafeArchive,
)

__all__ = [
    "ARCHIVE_KINDS",
    "DEFAULT_LIMITS",
    "MODEL_SUFFIXES",
    "ExtractLimits",
    "ExtractedFile",
    "UnsafeArchive",
    "archive_kind",
    "extract",
]
