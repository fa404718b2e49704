"""Where everything lives in a store that is the Hugging Face cache: pure path arithmetic.

Layout under the cache directory (huggingface_hub's own, as ``file_download.py`` writes it)::

    CACHEDIR.TAG                                   huggingface_hub's cache directory tag
    models--<org>--<name>/blobs/<etag>             one file's bytes; the etag is the sha256 for
                                                   LFS files and the git blob id for the others
    models--<org>--<name>/snapshots/<commit>/<path>  a relative symlink to ../../blobs/<etag>
                                                   (a copy where symlinks are refused)
    models--<org>--<name>/refs/<revision>          the commit a branch or tag resolved to
    .locks/models--<org>--<name>/<etag>.lock       huggingface_hub's lock of one blob

and what model_fetch adds, where huggingface_hub never looks::

    models--<org>--<name>/.model_fetch/<version>/install.json   the install record, written last
    models--<org>--<name>/.model_fetch/<version>/accessed       touched when reused
    models--<org>--<name>/.model_fetch/<version>/removing.json  the record of a removal under way
    .locks/model_fetch/{.staging,.partials,.locks,.cache}/      downloads in progress, locks

``scan_cache_dir()`` reads only ``snapshots/`` and ``refs/`` of a repository folder and skips
``.locks`` at the root, and ``hf_hub_download`` opens paths under ``snapshots/`` only, so neither
sees the record; the working directories sit under ``.locks`` so that a rename into ``blobs/`` stays
on one disk.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Final

import attrs

from model_fetch._paths import escape_segment
from model_fetch.exceptions import InvalidRequest
from model_fetch.storage._layout import ACCESSED_NAME, RECORD_NAME, Layout

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "HF_CACHE",
    "HF_TAG",
    "RECORDS_DIR",
    "REMOVING_NAME",
    "HfLayout",
    "hf_cache_dir",
    "hf_cache_root",
    "repo_folder",
]

#: The store argument that names the Hugging Face cache (``store="hf-cache"``).
HF_CACHE: Final = "hf-cache"
_PREFIX: Final = HF_CACHE + ":"
#: huggingface_hub's CACHEDIR.TAG (``_local_folder.CACHEDIR_TAG_CONTENT``).
HF_TAG: Final = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n"
)
#: A Hugging Face repo id, as huggingface_hub's ``validate_repo_id`` accepts it.
_REPO_ID: Final = re.compile(r"^(?:[\w\-.]{1,96}/)?[\w\-.]{1,96}$")
RECORDS_DIR: Final = ".model_fetch"
#: The record of a version being removed (renamed from ``install.json``; the directory goes last).
REMOVING_NAME: Final = "removing.json"


def hf_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """The Hugging Face cache directory, resolved as huggingface_hub's ``constants`` does.

    ``HF_HUB_CACHE``, else the legacy ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, where
    ``HF_HOME`` defaults to ``$XDG_CACHE_HOME/huggingface`` and that to ``~/.cache/huggingface``.
    Read at call time, unlike huggingface_hub, which reads them once at import.
    """
    env = os.environ if environ is None else environ
    home = env.get("HF_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface",
    )
    home = os.path.expandvars(os.path.expanduser(home))
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if not cache:
        return os.path.join(home, "hub")
    return os.path.expandvars(os.path.expanduser(cache))


def hf_cache_root(text: str) -> str | None:
    """The local cache directory a store argument names, or None if it names another store.

    ``hf-cache`` is the cache huggingface_hub uses (:func:`hf_cache_dir`); ``hf-cache:<path>``
    and ``hf-cache:file://<path>`` name one explicitly; and a local directory that already is a
    Hugging Face cache (huggingface_hub's ``CACHEDIR.TAG``, or ``models--*`` folders and no
    model_fetch ``models/`` folder) is taken as one.

    Raises:
        InvalidRequest: ``hf-cache:`` names a place that is not a local directory.
    """
    if text == HF_CACHE:
        return hf_cache_dir()
    if text.startswith(_PREFIX):
        rest = text[len(_PREFIX) :]
        rest = rest.removeprefix("file://")
        if "://" in rest or not rest:
            raise InvalidRequest(
                f"The store {text!r} is not a local directory: huggingface_hub reads only "
                "local caches (use hf-cache:/path/to/cache)"
            )
        return os.path.abspath(os.path.expanduser(rest))
    path = text.removeprefix("file://")
    if "://" in path or not os.path.isdir(path):
        return None
    return os.path.abspath(path) if _looks_like_hf_cache(path) else None


def _looks_like_hf_cache(path: str) -> bool:
    try:
        with open(os.path.join(path, "CACHEDIR.TAG"), encoding="utf-8") as handle:
            if "huggingface_hub" in handle.read(512):
                return True
    except OSError:
        pass
    try:
        entries = os.listdir(path)
    except OSError:
        return False
    return "models" not in entries and any(e.startswith("models--") for e in entries)


def repo_folder(name: str) -> str:
    """The repository folder of a model: ``models--<org>--<name>`` (huggingface_hub's rule).

    Raises:
        InvalidRequest: The name is not a Hugging Face repo id (only those have a folder).
    """
    if not _REPO_ID.match(name) or "--" in name or ".." in name:
        raise InvalidRequest(
            f"model_name {name!r} is not a Hugging Face repo id, which a hf-cache store needs "
            "(letters, digits, '-', '_', '.', at most one '/', no '--' or '..')"
        )
    return "--".join(("models", *name.split("/")))


def _snapshot_segment(version: str) -> str:
    # A Hugging Face commit is 40 hex digits and stays as it is; another source's version is
    # escaped into one segment like in model_fetch's own layout.
    return escape_segment(version)


@attrs.frozen
class HfLayout(Layout):
    """The paths of a store that is a Hugging Face cache (always a local directory).

    The generation of a record plays no part: a commit's files are its snapshot, and a blob's
    name is its content's, so a reinstall replaces each link atomically with an identical one.
    """

    def repo_dir(self, name: str) -> str:
        """The repository folder of one model."""
        return self.join(repo_folder(name))

    def blob_path(self, name: str, etag: str) -> str:
        """One blob of a model's repository folder."""
        return self.join(repo_folder(name), "blobs", etag)

    def blob_lock(self, name: str, etag: str) -> str:
        """huggingface_hub's lock file of one blob."""
        return self.join(".locks", repo_folder(name), f"{etag}.lock")

    def meta(self, kind: str) -> str:
        """One of model_fetch's working directories (staging, partials, locks, caches)."""
        return self.join(".locks", "model_fetch", kind)

    @property
    def models_dir(self) -> str:
        """Every repository folder is directly under the root."""
        return self.root

    def name_dir(self, name: str) -> str:
        """The repository folder."""
        return self.repo_dir(name)

    def version_dir(self, name: str, version: str) -> str:
        """Where the record of one (name, version) lives (beside the cache's own folders)."""
        return self.join(repo_folder(name), RECORDS_DIR, escape_segment(version))

    def record_path(self, name: str, version: str) -> str:
        """The install record of one (name, version)."""
        return os.path.join(self.version_dir(name, version), RECORD_NAME)

    def generation_dir(self, name: str, version: str, generation: str) -> str:  # noqa: ARG002
        """The snapshot folder of the version: its files, as huggingface_hub reads them."""
        return self.join(repo_folder(name), "snapshots", _snapshot_segment(version))

    def accessed_path(self, name: str, version: str) -> str:
        """The marker touched when an installed copy is reused."""
        return os.path.join(self.version_dir(name, version), ACCESSED_NAME)

    def refs_dir(self, name: str) -> str:
        """huggingface_hub's refs folder of a repository."""
        return self.join(repo_folder(name), "refs")

    def alias_path(self, name: str, ref: str) -> str:
        """The ref file: ``refs/main`` holds the commit ``main`` resolved to.

        model_fetch's ``latest`` is the default branch, which huggingface_hub calls ``main``.
        """
        return self.join_rel(self.refs_dir(name), "main" if ref == "latest" else ref)
