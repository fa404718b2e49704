"""``fetch``: download a model, or reuse it, and return a local path that exists.

The shape users of huggingface_hub's ``snapshot_download`` and ``hf_hub_download`` expect: one
call, no result object to unpack. It is a front door like the CLI: it builds a request, runs it
through a :class:`Downloader` and returns the path. No downloader is cached between calls, so
every call reads the configuration anew (docs/decisions.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch._downloader import Downloader
from model_fetch._models import DownloadOptions, DownloadRequest
from model_fetch._paths import validate_relpath
from model_fetch.exceptions import InvalidRequest, ModelNotFound

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence

    from model_fetch._models import Plan, Progress
    from model_fetch.storage import Store

__all__ = ["fetch"]

#: How many of a repository's file names a "no such file" error shows.
_SHOWN_NAMES: Final = 10


def fetch(
    name: str,
    *,
    version: str | None = None,
    source: str = "default",
    filename: str | None = None,
    allow_patterns: str | Sequence[str] | None = None,
    ignore_patterns: str | Sequence[str] | None = None,
    store: str | os.PathLike[str] | Store | None = None,
    offline: bool | None = None,
    download_url: str | None = None,
    checksum: str | None = None,
    force_download: bool = False,
    options: DownloadOptions | dict[str, Any] | None = None,
    progress: Callable[[Progress], None] | None = None,
    downloader: Downloader | None = None,
) -> Path:
    """Download, verify and install a model (or reuse the installed copy); return its path.

    Like huggingface_hub's ``snapshot_download`` it returns the installed directory; like
    ``hf_hub_download``, with ``filename`` it fetches that one file and returns its path; like
    ``pooch.retrieve``, with ``download_url`` it returns the downloaded file. The path exists
    when the call returns. Every file is verified as it streams, and the install is atomic.

    In model_fetch's own store layout, a call that adds files to an installed version commits a
    new copy of its directory and removes the old one, so use the path the latest call
    returned, or select every file needed in one call; under ``store="hf-cache"`` the snapshot
    directory never moves.

    Examples:
        One file of a Hub repository, then its JSON files, in the same installed commit
        (docs/migrate-huggingface-hub.md runs the same calls):

        ```python
        config = fetch("acme/tiny-mlp", source="huggingface", filename="config.json")
        folder = fetch("acme/tiny-mlp", source="huggingface", allow_patterns=["*.json"])
        assert config == folder / "config.json"
        ```

    Args:
        name: The model's name (``name`` or ``org/name``; a Hub repo id for ``huggingface``).
        version: The version, or for ``huggingface`` a branch, tag or commit (``latest``, the
            default, is the newest version or the default branch).
        source: Who resolves the request: ``default``, ``huggingface``, ``url``, ``local``...
        filename: Fetch only this file (a path inside the model, such as
            ``tokenizer/vocab.txt``) and return its path. It is installed as published:
            archives are not unpacked.
        allow_patterns: Install only files matching one of these globs (``fnmatch``; ``*``
            matches across ``/``).
        ignore_patterns: Skip files matching one of these globs.
        store: Where to install: a path, an fsspec URL of a local filesystem, ``"hf-cache"``
            (the Hugging Face cache, laid out as huggingface_hub lays it out) or a
            ``model_fetch.storage.Store``; by default ``MODEL_FETCH_HOME``, else the user cache.
        offline: Serve installed models only (``local_files_only``); by default
            ``MODEL_FETCH_OFFLINE`` or ``HF_HUB_OFFLINE``.
        download_url: A direct URL to one file; then the call returns that file (or the
            directory its archive was unpacked into), whatever ``source`` says.
        checksum: The expected digest of a one-file model, ``algo:hex`` or a bare sha256 hex.
        force_download: Download again even if installed, replacing the install atomically.
        options: :class:`DownloadOptions`, or a dict of its fields (timeout, retries...).
        progress: Called with :class:`Progress` snapshots while the download runs.
        downloader: A long-lived :class:`Downloader` to run in (its connection pool is reused
            across calls); by default one is opened and closed for this call.

    Returns:
        The installed directory; the file, with ``filename`` or ``download_url``.

    Raises:
        InvalidRequest: A malformed argument, ``filename`` together with patterns,
            ``store``/``offline`` together with ``downloader``, or a store that is not on this
            machine (400).
        ModelNotFound: No such model, version or ``filename`` at the source (404).
        OfflineModeError: Offline, and what was asked for is not installed (404).
        InsufficientStorage: The store cannot hold the model (413).
        ChecksumMismatch: The bytes do not match the expected digest (500).
        DownloadFailed: The transfer failed after its retries (500).
    """
    wanted = None if filename is None else validate_relpath(filename)
    request = DownloadRequest(
        model_name=name,
        version="latest" if version is None else version,
        download_url=download_url,
        source=source,
        checksum=checksum,
        force_download=force_download,
        options=_options(options, wanted, allow_patterns, ignore_patterns),
    )
    if downloader is not None:
        if store is not None or offline is not None:
            raise InvalidRequest(
                "store and offline configure a new downloader: give them to Downloader() "
                "instead of passing both them and downloader"
            )
        return _run(downloader, request, wanted, progress)
    with Downloader(store, offline=offline) as opened:
        return _run(opened, request, wanted, progress)


def _options(
    given: DownloadOptions | dict[str, Any] | None,
    filename: str | None,
    allow: str | Sequence[str] | None,
    ignore: str | Sequence[str] | None,
) -> DownloadOptions:
    """The request's options: ``given``, with the file selection the arguments make."""
    options = DownloadOptions.from_mapping(given)
    selection = {"allow_patterns": allow, "ignore_patterns": ignore}
    if filename is not None:
        if any(value is not None for value in selection.values()) or any(
            getattr(options, key) is not None for key in selection
        ):
            raise InvalidRequest(
                "filename fetches one file, and allow_patterns/ignore_patterns select the files "
                "of a snapshot: give one or the other"
            )
        # validate_relpath refuses "*" and "?", so "[" is the one glob character left to escape.
        exact = filename.replace("[", "[[]")
        return attrs.evolve(options, allow_patterns=(exact,), extract_after_download=False)
    changes: dict[str, Any] = {}
    for key, value in selection.items():
        if value is None:
            continue
        if getattr(options, key) is not None:
            raise InvalidRequest(f"{key} is given twice: as an argument and in options")
        changes[key] = (value,) if isinstance(value, str) else tuple(value)
    return attrs.evolve(options, **changes)


def _run(
    downloader: Downloader,
    request: DownloadRequest,
    filename: str | None,
    progress: Callable[[Progress], None] | None,
) -> Path:
    """Run the request and return the path the call promises."""
    if not downloader.store.local:
        raise InvalidRequest(
            f"fetch returns a local path, and the store {downloader.store.url} is not on this "
            "machine: use Downloader.download, whose result names the installed files' URL"
        )

    if filename is None:
        result = downloader.run(request, progress=progress)
        return Path(result.file_path if request.download_url else result.directory)

    def listed(plan: Plan) -> None:
        """Refuse a filename the source does not have, before anything is downloaded."""
        paths = sorted(file.path for file in plan.files)
        if filename not in paths:
            shown = ", ".join(paths[:_SHOWN_NAMES]) + (", ..." if len(paths) > _SHOWN_NAMES else "")
            raise ModelNotFound(
                f"Model '{request.model_name}' version '{plan.version}' has no file "
                f"'{filename}' ({len(paths)} files: {shown})",
                model_name=request.model_name,
                version=request.version,
            )

    result = downloader.run(request, progress=progress, on_plan=listed)
    return Path(result.directory, *filename.split("/"))
