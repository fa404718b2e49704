"""One attempt at a file on an fsspec filesystem (``file://``, ``s3://``, any fsspec URL).

Read in one pass, with no partial: a local copy is cheap to redo. On a local filesystem the file
is cloned with reflink where the filesystem supports it, and the clone is hashed.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Final

from model_fetch._log import redact_url
from model_fetch.exceptions import DownloadFailed, ModelFetchError, ModelNotFound
from model_fetch.transfer._outcome import check_size
from model_fetch.transfer._retry import Retryable

if TYPE_CHECKING:
    from collections.abc import Callable

    from model_fetch._models import RemoteFile
    from model_fetch.transfer._sink import Sink

__all__ = ["attempt_fsspec"]

#: ioctl number of FICLONE on Linux: clone a whole file, sharing blocks copy-on-write.
_FICLONE: Final = 0x40049409


def attempt_fsspec(
    remote: RemoteFile,
    sink: Sink,
    *,
    buffer_size: int,
    on_size: Callable[[int], None],
) -> None:
    """Copy ``remote`` into the sink in one pass.

    Raises:
        ModelNotFound: The file does not exist.
        DownloadFailed: The URL cannot be opened or read.
        Retryable: A read failed in a way that may pass.
    """
    import fsspec  # noqa: PLC0415 - fsspec's implementations load lazily

    url = redact_url(remote.url)
    try:
        fs, path = fsspec.core.url_to_fs(remote.url)
    except (ValueError, ImportError) as exc:
        raise DownloadFailed(f"Cannot open {url}: {exc}", url=url) from exc
    try:
        size = fs.size(path)
        sink.begin(0, validator=None, total=int(size) if size is not None else None)
        if size is not None:
            on_size(int(size))
        if _is_local(fs) and _reflink(path, sink.fd):
            # A copy-on-write clone: the bytes are hashed by reading the clone itself.
            with open(sink.fd, "rb", buffering=0, closefd=False) as clone:
                while data := clone.read(buffer_size):
                    sink.write(data, already_written=True)
        else:
            with fs.open(path, "rb", block_size=buffer_size) as handle:
                while data := handle.read(buffer_size):
                    sink.write(data)
    except FileNotFoundError as exc:
        raise ModelNotFound(f"Model file not found at {url}", model_name=None, url=url) from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise DownloadFailed(f"Cannot read {url}: {exc}", url=url) from exc
    except ModelFetchError:
        raise
    except OSError as exc:
        raise Retryable(f"read failed after {sink.position} bytes: {exc}") from exc
    check_size(remote, sink.position, url)


def _is_local(fs: object) -> bool:
    from fsspec.implementations.local import LocalFileSystem  # noqa: PLC0415 - lazy like fsspec

    return isinstance(fs, LocalFileSystem)


def _reflink(source: str, dest_fd: int) -> bool:
    """Clone ``source`` into ``dest_fd`` where the filesystem can (btrfs, XFS); never a hard link.

    Returns False (and the caller copies) where cloning is not supported, which is most places.
    """
    if not sys.platform.startswith("linux"):
        return False
    import fcntl  # noqa: PLC0415 - POSIX only

    try:
        with open(source, "rb") as src:
            fcntl.ioctl(dest_fd, _FICLONE, src.fileno())
    except OSError:
        os.ftruncate(dest_fd, 0)
        return False
    return True
