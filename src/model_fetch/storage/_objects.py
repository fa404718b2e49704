"""Object-store primitives: bucket checks, conditional writes and multipart uploads.

Object stores have no rename and no lock. What they do have, and what the object backend and the
lease build on:

* one object appears whole or not at all (a PUT, or a completed multipart upload);
* a conditional create (``If-None-Match: *``) that exactly one writer wins;
* a conditional replace and delete (``If-Match: <etag>``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from typing import TYPE_CHECKING, Any, Final

from model_fetch._cancel import check_cancelled
from model_fetch.exceptions import DownloadFailed, ModelFetchError, StoreUnavailable

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator

__all__ = [
    "PART_SIZE",
    "Conditional",
    "bucket_of",
    "check_bucket",
    "precondition_failed",
    "store_unavailable",
    "upload_file",
    "walk_objects",
]

#: Multipart part size: memory held by one upload is about one part, whatever the file's size.
PART_SIZE: Final = 8 * 2**20


def bucket_of(fs: Any, root: str) -> str | None:
    """The bucket of an object-store path, or None for filesystems without buckets."""
    split = getattr(fs, "split_path", None)
    if split is None:
        return None
    return str(split(root)[0]) or None


def store_unavailable(url: str, exc: BaseException, what: str = "store") -> StoreUnavailable:
    """Wrap a filesystem error in a one-line StoreUnavailable naming the store."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, PermissionError):
        reason = f"access denied ({reason})"
    return StoreUnavailable(f"The {what} {url} is unavailable: {reason}", url=url)


def check_bucket(fs: Any, root: str, url: str, what: str = "store") -> None:
    """Raise StoreUnavailable when the root's bucket is missing or cannot be read.

    It never creates anything: s3fs's ``makedirs``/``mkdir`` would create a missing bucket.
    """
    bucket = bucket_of(fs, root)
    if bucket is None:
        return
    try:
        exists = _bucket_exists(fs, bucket, root)
    except ModelFetchError:
        raise
    except Exception as exc:
        raise store_unavailable(url, exc, what) from exc
    if not exists:
        raise StoreUnavailable(
            f"The {what} {url} is unavailable: bucket {bucket!r} does not exist or is not "
            "accessible (it is never created automatically)",
            url=url,
        )


def _bucket_exists(fs: Any, bucket: str, root: str) -> bool:
    """Ask for one key under the store's own prefix: a policy may allow listing only there."""
    call = getattr(fs, "call_s3", None)
    if call is None:
        return bool(fs.exists(bucket))
    prefix = root.partition("/")[2].strip("/")
    try:
        call("list_objects_v2", Bucket=bucket, Prefix=f"{prefix}/" if prefix else "", MaxKeys=1)
    except FileNotFoundError:
        return False
    return True


class Conditional:
    """Conditional writes on one filesystem (s3fs: ``If-None-Match`` / ``If-Match``).

    Args:
        fs: The fsspec filesystem.
    """

    def __init__(self, fs: Any) -> None:
        """Wrap the filesystem."""
        self.fs = fs

    def create(self, path: str, data: bytes) -> str:
        """Create ``path`` only if it does not exist; return its ETag.

        Raises:
            FileExistsError: It exists already (another writer won).
        """
        out = self.fs.pipe_file(path, data, mode="create")
        return _etag(out)

    def replace(self, path: str, data: bytes, etag: str) -> str:
        """Replace ``path`` only if its ETag is still ``etag``; return the new ETag.

        Raises:
            FileNotFoundError: It no longer exists.
            OSError: Its ETag changed (s3fs maps a failed If-Match to EINVAL).
        """
        out = self.fs.pipe_file(path, data, IfMatch=etag)
        return _etag(out)

    def head(self, path: str) -> dict[str, Any] | None:
        """Return the object's fresh info (ETag, size, LastModified), or None if it is absent."""
        try:
            info: dict[str, Any] = self.fs.info(path, refresh=True)
        except FileNotFoundError:
            return None
        return info

    def delete(self, path: str, etag: str) -> bool:
        """Delete ``path`` if its ETag is still ``etag``; tell whether it was deleted."""
        call = getattr(self.fs, "call_s3", None)
        if call is None:  # pragma: no cover - only filesystems that passed the probe get here
            info = self.head(path)
            if info is None or info.get("ETag") != etag:
                return False
            self.fs.rm_file(path)
            return True
        bucket, key, _ = self.fs.split_path(path)
        try:
            call("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
        except (FileNotFoundError, OSError):
            return False
        self.fs.invalidate_cache(path)
        return True

    def probe(self, directory: str) -> bool:
        """Tell whether the filesystem really does conditional create and replace.

        Writes, then deletes, one small probe object under ``directory``.
        """
        path = f"{directory}/.probe-{uuid.uuid4().hex}"
        try:
            try:
                etag = self.create(path, b"probe")
            except (TypeError, ValueError, NotImplementedError):
                return False
            if not etag:
                return False
            try:
                self.create(path, b"again")
            except FileExistsError:
                pass
            else:
                return False
            try:
                self.replace(path, b"stale", '"not-the-etag"')
            except OSError:
                pass
            else:
                return False
            return True
        finally:
            with contextlib.suppress(Exception):
                self.fs.rm_file(path)


def _etag(out: Any) -> str:
    if isinstance(out, dict) and out.get("ETag"):
        return str(out["ETag"])
    return ""


def precondition_failed(exc: OSError) -> bool:
    """Whether a conditional write failed because its condition did not hold."""
    return exc.errno == errno.EINVAL or "PreconditionFailed" in str(exc) or "412" in str(exc)


def upload_file(
    fs: Any,
    local: str,
    remote: str,
    *,
    on_bytes: Callable[[int], None],
    cancel: threading.Event | None = None,
    part_size: int = PART_SIZE,
) -> int:
    """Stream a local file to one object in parts, aborting the multipart upload on failure.

    Memory held is about one part whatever the file's size. The object appears only when the
    upload completes (a completed multipart upload is atomic).

    Returns:
        The size the store reports for the new object.

    Raises:
        DownloadFailed: The stored size differs from the local file's.
    """
    expected = os.path.getsize(local)
    handle = fs.open(remote, "wb", block_size=part_size)
    try:
        with open(local, "rb") as source:
            while chunk := source.read(part_size):
                check_cancelled(cancel)
                handle.write(chunk)
                on_bytes(len(chunk))
        check_cancelled(cancel)  # a cancel during the last part aborts rather than commits
        handle.close()
    except BaseException:
        _discard(fs, handle, remote)
        raise
    stored = _size(fs, remote)
    if stored != expected:
        raise DownloadFailed(
            f"Upload of {remote} stored {stored} bytes, expected {expected}; not committing",
        )
    return stored


def _discard(fs: Any, handle: Any, remote: str) -> None:
    discard = getattr(handle, "discard", None)
    with contextlib.suppress(Exception):
        if discard is not None:
            discard()  # s3fs: AbortMultipartUpload, so no invisible parts are left billed
            handle.closed = True  # a discarded file must not try to commit when collected
        else:  # pragma: no cover - filesystems whose files cannot be discarded
            handle.close()
            fs.rm_file(remote)


def _size(fs: Any, path: str) -> int:
    with contextlib.suppress(TypeError):
        return int(fs.info(path, refresh=True)["size"])
    return int(fs.info(path)["size"])  # pragma: no cover - filesystems without refresh=


def walk_objects(fs: Any, directory: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (path, info) for every object under a directory (nothing when it is absent)."""
    try:
        found = fs.find(directory, detail=True)
    except FileNotFoundError:
        return
    yield from found.items()
