"""Object-store primitives: bucket checks, conditional writes, leases and multipart uploads.

Object stores have no rename and no lock. What they do have, and what this module builds on:

* one object appears whole or not at all (a PUT, or a completed multipart upload);
* a conditional create (``If-None-Match: *``) that exactly one writer wins;
* a conditional replace and delete (``If-Match: <etag>``).

A :class:`Lease` is a small object created with a conditional create, renewed by its holder with a
conditional replace, and taken over by a waiter once its ETag has stayed the same for the lease
time *on the waiter's own monotonic clock*: no node ever compares the store's timestamps with its
own clock, so clock skew between nodes cannot break it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from model_fetch._cancel import check_cancelled
from model_fetch._log import get_logger
from model_fetch.exceptions import DownloadFailed, ModelFetchError, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "PART_SIZE",
    "Conditional",
    "Lease",
    "LeaseLost",
    "bucket_of",
    "check_bucket",
    "store_unavailable",
    "upload_file",
]

log = get_logger(__name__)

#: Multipart part size: memory held by one upload is about one part, whatever the file's size.
PART_SIZE: Final = 8 * 2**20


class LeaseLost(DownloadFailed):
    """The lease was taken over (or deleted) while its holder worked; the holder must not commit."""


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


def _precondition_failed(exc: OSError) -> bool:
    return exc.errno == errno.EINVAL or "PreconditionFailed" in str(exc) or "412" in str(exc)


class Lease:
    """A lease object on an object store: one holder at a time, renewed while it works.

    Args:
        fs: The filesystem (must have passed :meth:`Conditional.probe`).
        path: The lease object's path.
        ttl: Seconds without renewal after which a waiter may take the lease over.
        what: What the lease protects, for messages.
        sleep: Waits between polls (tests may inject one).
        monotonic: The waiter's own clock.
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        ttl: float,
        *,
        what: str,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an unheld lease."""
        self._cond = Conditional(fs)
        self.path = path
        self.ttl = ttl
        self.what = what
        self._sleep = sleep
        self._monotonic = monotonic
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._etag: str | None = None
        self._renewals = 0
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()
        self.took_over = False

    @property
    def held(self) -> bool:
        """Whether this process holds the lease (and has not lost it)."""
        return self._etag is not None and not self._lost.is_set()

    def _body(self) -> bytes:
        self._renewals += 1
        return json.dumps(
            {"owner": self._owner, "renewals": self._renewals, "ttl": self.ttl, "what": self.what},
        ).encode()

    def try_acquire(self) -> bool:
        """Create the lease if nobody holds it; never waits."""
        try:
            etag = self._cond.create(self.path, self._body())
        except FileExistsError:
            return False
        self._held(etag)
        return True

    def acquire(
        self,
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        done: Callable[[], bool] | None = None,
    ) -> bool:
        """Take the lease, waiting while another holder keeps renewing it.

        Args:
            timeout: Seconds to wait in all.
            cancel: Stops the wait with DownloadCancelled.
            done: Polled while waiting; when it returns True the wait ends without the lease
                (the holder's work is visible, so it is not needed any more).

        Returns:
            True when the lease is held; False when ``done`` said the work was done.

        Raises:
            StoreUnavailable: The wait timed out.
        """
        deadline = self._monotonic() + timeout
        poll = min(2.0, max(0.05, self.ttl / 10))
        seen: str | None = None
        seen_at = 0.0
        while True:
            check_cancelled(cancel)
            if self.try_acquire():
                return True
            if done is not None and done():
                return False
            info = self._cond.head(self.path)
            now = self._monotonic()
            if info is not None:
                etag = str(info.get("ETag") or "")
                if etag != seen:
                    seen, seen_at = etag, now  # renewed (or new holder): start counting again
                elif now - seen_at >= self.ttl and self._take_over(etag):
                    return True
            if now >= deadline:
                raise StoreUnavailable(
                    f"Timed out after {timeout:g} s waiting for the lease on {self.what}",
                    url=self.path,
                )
            self._sleep(poll)

    def _take_over(self, etag: str) -> bool:
        try:
            new = self._cond.replace(self.path, self._body(), etag)
        except FileNotFoundError:
            return False
        except OSError as exc:
            if _precondition_failed(exc):
                return False  # another waiter took it first, or the holder renewed after all
            raise
        log.warning("Took over the expired lease on %s (its holder stopped renewing)", self.what)
        self.took_over = True
        self._held(new)
        return True

    def _held(self, etag: str) -> None:
        self._etag = etag
        self._lost.clear()
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_loop, name=f"lease:{self.what}", daemon=True
        )
        self._renewer.start()

    def _renew_loop(self) -> None:
        last_ok = self._monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
                last_ok = self._monotonic()
            except LeaseLost:
                return
            except Exception as exc:  # noqa: BLE001 - a network blip: keep trying until the ttl
                log.warning("Could not renew the lease on %s: %s", self.what, exc)
                if self._monotonic() - last_ok >= self.ttl:
                    self._lost.set()
                    return

    def renew(self) -> None:
        """Renew the lease now.

        Raises:
            LeaseLost: Someone else holds it now (or it was deleted).
        """
        with self._lock:
            if self._etag is None or self._lost.is_set():
                raise LeaseLost(f"The lease on {self.what} was lost", url=self.path)
            try:
                self._etag = self._cond.replace(self.path, self._body(), self._etag)
            except FileNotFoundError:
                self._lost.set()
            except OSError as exc:
                if not _precondition_failed(exc):
                    raise
                self._lost.set()
            if self._lost.is_set():
                log.warning("Lost the lease on %s to another node", self.what)
                raise LeaseLost(
                    f"The lease on {self.what} was taken over by another node; not committing",
                    url=self.path,
                )

    def check(self) -> None:
        """Renew once, right before committing: a holder that lost its lease stops here.

        Raises:
            LeaseLost: The lease is no longer ours.
        """
        self.renew()

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        with self._lock:
            etag, self._etag = self._etag, None
        if etag is not None and not self._lost.is_set():
            with contextlib.suppress(Exception):
                self._cond.delete(self.path, etag)


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
