"""The (name, version) lock: lock files and leases behave alike behind the StoreLock protocol."""

from __future__ import annotations

import errno
import itertools
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from model_fetch._config import Settings
from model_fetch.exceptions import DownloadCancelled, DownloadFailed, StoreUnavailable
from model_fetch.storage import Lease, LeaseLost, LocalLock, Store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from model_fetch.storage import StoreLock


class ConditionalMemory:
    """An in-memory filesystem with S3's conditional writes (If-None-Match / If-Match)."""

    def __init__(self) -> None:
        """Start empty."""
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._etags = itertools.count()
        self._lock = threading.Lock()

    def pipe_file(
        self, path: str, data: bytes, mode: str = "overwrite", **kwargs: Any
    ) -> dict[str, str]:
        """Write an object: ``mode="create"`` only if absent, ``IfMatch`` only if unchanged."""
        with self._lock:
            current = self.objects.get(path)
            if mode == "create" and current is not None:
                raise FileExistsError(path)
            if "IfMatch" in kwargs:
                if current is None:
                    raise FileNotFoundError(path)
                if current[1] != kwargs["IfMatch"]:
                    raise OSError(errno.EINVAL, "PreconditionFailed")
            etag = f'"{next(self._etags)}"'
            self.objects[path] = (data, etag)
            return {"ETag": etag}

    def info(self, path: str, **_kwargs: Any) -> dict[str, Any]:
        """The object's ETag and size."""
        with self._lock:
            if path not in self.objects:
                raise FileNotFoundError(path)
            data, etag = self.objects[path]
            return {"ETag": etag, "size": len(data)}

    def rm_file(self, path: str) -> None:
        """Delete an object."""
        with self._lock:
            self.objects.pop(path, None)


class FakeClock:
    """A waiter's monotonic clock that moves only when the waiter sleeps."""

    def __init__(self) -> None:
        """Start at zero."""
        self.now = 0.0

    def monotonic(self) -> float:
        """The fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Move the fake time on, at once."""
        self.now += seconds


@pytest.fixture
def fs() -> ConditionalMemory:
    return ConditionalMemory()


@pytest.fixture
def make_lease(fs: ConditionalMemory) -> Iterator[Callable[..., Lease]]:
    """Leases on one path; every lease made is released at the end (stopping its renewer)."""
    made: list[Lease] = []

    def make(clock: FakeClock | None = None, sleep: Callable[[float], None] | None = None) -> Lease:
        clock = clock or FakeClock()
        # A long ttl: the renewer thread (real time) never renews during a test.
        lease = Lease(
            fs,
            "b/.leases/k.json",
            1000.0,
            what="'m' version 'v1'",
            sleep=sleep or clock.sleep,
            monotonic=clock.monotonic,
        )
        made.append(lease)
        return lease

    yield make
    for lease in made:
        lease.release()


@pytest.fixture
def make_file_lock(tmp_path: Path) -> Callable[[], LocalLock]:
    return lambda: LocalLock(str(tmp_path / "k.lock"), what="'m' version 'v1'")


@pytest.fixture(params=["lock file", "lease"])
def pair(
    request: pytest.FixtureRequest,
    make_lease: Callable[..., Lease],
    make_file_lock: Callable[[], LocalLock],
) -> tuple[StoreLock, StoreLock]:
    """Two handles on the same (name, version) lock, as two processes would hold them."""
    if request.param == "lease":
        return make_lease(), make_lease()
    return make_file_lock(), make_file_lock()


def test_one_holder_at_a_time(pair: tuple[StoreLock, StoreLock]) -> None:
    """While one download holds a version's lock, a removal's try_acquire is refused."""
    first, second = pair
    assert first.try_acquire()
    assert not second.try_acquire()
    first.check()  # still ours: the commit may go ahead
    first.release()
    assert second.try_acquire()
    second.release()


def test_acquire_then_release(pair: tuple[StoreLock, StoreLock]) -> None:
    """A free lock is taken at once by acquire, and the next holder gets it after release."""
    first, second = pair
    assert first.acquire(timeout=5)
    first.release()
    with second:
        assert not first.try_acquire()
    assert first.try_acquire()
    first.release()


def test_cancel_stops_the_wait(pair: tuple[StoreLock, StoreLock]) -> None:
    """A cancelled request stops waiting for a busy version with DownloadCancelled."""
    first, second = pair
    assert first.try_acquire()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelled):
        second.acquire(timeout=5, cancel=cancel)
    first.release()


def test_lock_file_wait_times_out(make_file_lock: Callable[[], LocalLock]) -> None:
    """A download waiting longer than the lock timeout fails naming the version it waited for."""
    holder, waiter = make_file_lock(), make_file_lock()
    assert holder.try_acquire()
    with pytest.raises(DownloadFailed, match=r"waiting for another download of 'm' version 'v1'"):
        waiter.acquire(timeout=0.01)
    holder.release()


def test_lease_wait_times_out(make_lease: Callable[..., Lease]) -> None:
    """Waiting on a lease its holder keeps renewing ends with StoreUnavailable at the timeout."""
    holder = make_lease()
    assert holder.try_acquire()
    clock = FakeClock()
    renewals = threading.Event()

    def sleep(seconds: float) -> None:
        holder.renew()  # the holder is alive: its ETag keeps changing between polls
        renewals.set()
        clock.sleep(seconds)

    waiter = make_lease(clock, sleep)
    with pytest.raises(StoreUnavailable, match="Timed out after 3000 s"):
        waiter.acquire(timeout=3000)
    assert renewals.is_set()
    holder.check()


def test_a_dead_holder_loses_its_lease(make_lease: Callable[..., Lease]) -> None:
    """A lease not renewed for its ttl is taken over, and the old holder may not commit."""
    holder = make_lease()
    assert holder.try_acquire()
    waiter = make_lease(FakeClock())
    assert waiter.acquire(timeout=5000)
    assert waiter.took_over
    with pytest.raises(LeaseLost):
        holder.check()
    waiter.check()


def test_release_deletes_only_our_lease(
    fs: ConditionalMemory, make_lease: Callable[..., Lease]
) -> None:
    """Releasing removes the lease object, but a holder that lost it leaves the new one alone."""
    holder = make_lease()
    assert holder.try_acquire()
    holder.release()
    assert fs.objects == {}
    holder = make_lease()
    assert holder.try_acquire()
    assert make_lease(FakeClock()).acquire(timeout=5000)
    with pytest.raises(LeaseLost):
        holder.check()
    holder.release()
    assert list(fs.objects) == ["b/.leases/k.json"]


def test_local_store_locks_with_lock_files(tmp_path: Path) -> None:
    """A local store's lock is a lock file under its .locks directory, one per version."""
    store = Store(tmp_path / "store", Settings(home=str(tmp_path / "store")))
    lock = store.lock("org/m", "v1")
    assert isinstance(lock, LocalLock)
    assert lock.try_acquire()
    assert not store.lock("org/m", "v1").try_acquire()
    other = store.lock("org/m", "v2")
    assert other.try_acquire()
    for held in (lock, other):
        held.check()
        held.release()
    assert (tmp_path / "store" / ".locks").is_dir()


def test_store_without_conditional_writes_locks_locally(tmp_path: Path) -> None:
    """A filesystem that cannot do conditional writes gets a lock file under the staging root."""
    url = f"memory://locks-{uuid.uuid4().hex}"
    settings = Settings(home=url, staging=str(tmp_path / "staging"))
    store = Store(url, settings)
    lock = store.lock("m", "v1")
    assert isinstance(lock, LocalLock)
    assert lock.path.startswith(str(tmp_path / "staging"))
    assert lock.try_acquire()
    lock.release()
