"""The fetch step's tiers: where a plan's bytes come from, tried in order.

A tier stages every file of the plan, verified against the plan's digests, or answers None to
let the next tier try: the fleet mirror first (when one is configured), then the origin, which
always answers or raises. The node's own store comes before both: the preflight reuses an
installed version, so the fetch step runs only when the store cannot answer.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, Protocol

import attrs

from model_fetch._cancel import CancelEvent, check_cancelled
from model_fetch._log import get_logger
from model_fetch._models import FileRecord
from model_fetch._verify import verify_outcome
from model_fetch.exceptions import (
    ChecksumMismatch,
    DownloadCancelled,
    DownloadFailed,
    InsufficientStorage,
    ModelNotFound,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from model_fetch._mirror import Mirror
    from model_fetch._models import DownloadRequest, Plan, RemoteFile
    from model_fetch._progress import ProgressTracker
    from model_fetch.storage import Store
    from model_fetch.transfer import HttpClient, PartialFile, Transfer, UrlPolicy

__all__ = ["Attempt", "MirrorTier", "OriginTier", "Tier"]

log = get_logger(__name__)

#: Files of a known size below this are fetched several at once (see ``OriginTier._fetch_small``);
#: larger ones are bound by the bandwidth and go one at a time, each over its own connections.
SMALL_FILE: Final = 8 * 1024 * 1024
#: How many small files are in flight at once (huggingface_hub's ``snapshot_download`` uses 8).
SMALL_FILE_WORKERS: Final = 8


@attrs.define(kw_only=True)
class Attempt:
    """One fetch of a plan into a staging directory, shared by the tiers it passes through.

    Attributes:
        request: The request being served.
        plan: The selected files, with the digests they must match.
        staging: The staging directory the files go into.
        tracker: Progress of this download.
        cancel: Stops the fetch with DownloadCancelled.
        policy: The URL policy of an untrusted request (url source only).
        origin_allowed: False in offline mode: only the mirror may serve.
        offline_error: What to raise when the origin is needed but not allowed.
        then: Set by a tier that answered None but must see what a later tier fetched (the
            mirror publishes it); the pipeline calls it once, before the install step.
        undo: Set with ``then``; called instead of it when the attempt fails.
    """

    request: DownloadRequest
    plan: Plan
    staging: str
    tracker: ProgressTracker
    cancel: threading.Event | None
    policy: UrlPolicy | None = None
    origin_allowed: bool = True
    offline_error: Callable[[], Exception]
    then: Callable[[list[FileRecord]], None] | None = None
    undo: Callable[[], None] | None = None


class Tier(Protocol):
    """A place the plan's bytes may come from."""

    def fetch(self, attempt: Attempt) -> list[FileRecord] | None:
        """Stage and verify every file of ``attempt.plan``, or return None to pass it on."""
        ...


class MirrorTier:
    """The fleet mirror: copy what it holds, or claim the right to publish the origin's bytes.

    Args:
        mirror: The mirror.
        store: This node's store (for staging paths).
        http: The HTTP client (to tell downloads that send credentials).
    """

    def __init__(self, mirror: Mirror, store: Store, http: HttpClient) -> None:
        """Wrap a mirror."""
        self.mirror = mirror
        self._store = store
        self._http = http

    def fetch(self, attempt: Attempt) -> list[FileRecord] | None:
        """Copy from the mirror; with a claim, publish what the origin tier fetches next."""
        outcome = self.mirror.obtain(
            attempt.request.model_name,
            attempt.plan,
            attempt.tracker,
            private=self._needs_credentials(attempt.plan),
            cancel=attempt.cancel,
            stage=lambda rel: self._store.staging_file(attempt.staging, rel),
            may_claim=attempt.origin_allowed,
        )
        claim = outcome.claim
        if outcome.files is None and claim is not None:

            def publish(files: list[FileRecord]) -> None:
                # The files as the source served them, before archives are unpacked, so every
                # node can check them against the source's digests.
                self.mirror.publish(
                    claim,
                    attempt.request.model_name,
                    attempt.plan,
                    staging=attempt.staging,
                    files=files,
                    tracker=attempt.tracker,
                    cancel=attempt.cancel,
                )

            attempt.then, attempt.undo = publish, claim.release
        return outcome.files

    def _needs_credentials(self, plan: Plan) -> bool:
        """Whether fetching the plan sends credentials (a hub token, userinfo, netrc)."""
        for remote in plan.files:
            if any(key.lower() == "authorization" for key in remote.headers):
                return True
            if remote.url.startswith(("http://", "https://")) and self._http.has_credentials(
                remote.url
            ):
                return True
        return False


class OriginTier:
    """The origin: the transfer engine fetches each file where the source said it is.

    Args:
        store: This node's store (staging, partials, space checks).
        transfer: The transfer engine.
        after_mirror: A mirror tier came first (progress then says ``bytes_from: origin``).
    """

    def __init__(self, store: Store, transfer: Transfer, *, after_mirror: bool) -> None:
        """Wrap the transfer engine."""
        self._store = store
        self._transfer = transfer
        self._after_mirror = after_mirror

    def fetch(self, attempt: Attempt) -> list[FileRecord]:
        """Download every file, checking space as sizes become known, verifying each one."""
        if not attempt.origin_allowed:
            raise attempt.offline_error()
        if self._after_mirror:
            attempt.tracker.bytes_from = "origin"
            _clear(attempt.staging)  # whatever a failed mirror copy left
        available = self._store.available()
        files = attempt.plan.files
        held = [0] * len(files)
        done: list[FileRecord | None] = [None] * len(files)
        small = [i for i, f in enumerate(files) if f.size is not None and f.size < SMALL_FILE]
        if len(small) > 1 and (attempt.cancel is None or isinstance(attempt.cancel, CancelEvent)):
            self._fetch_small(attempt, small, held, available, done)
        return [
            found or self._fetch_one(attempt, index, files[index], held, available)
            for index, found in enumerate(done)
        ]

    def _fetch_small(
        self,
        attempt: Attempt,
        indices: list[int],
        held: list[int],
        available: int | None,
        done: list[FileRecord | None],
    ) -> None:
        """Fetch small files :data:`SMALL_FILE_WORKERS` at a time; the first failure stops all.

        A small file costs a request round trip, two threads and an fsync more than its bytes;
        several in flight overlap those. The others see the failure as a cancel, and the
        failure itself (or the caller's cancel) is what is raised.
        """
        stop = CancelEvent()
        outer = attempt.cancel
        if isinstance(outer, CancelEvent):
            outer.add_callback(stop.set)
        inner = attrs.evolve(attempt, cancel=stop)
        failures: list[BaseException] = []

        def one(index: int) -> None:
            if stop.is_set():
                return
            try:
                done[index] = self._fetch_one(
                    inner, index, inner.plan.files[index], held, available
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                failures.append(exc)
                stop.set()

        try:
            workers = min(SMALL_FILE_WORKERS, len(indices))
            with ThreadPoolExecutor(workers, thread_name_prefix="model_fetch-file") as pool:
                try:
                    list(pool.map(one, indices))
                except BaseException:  # Ctrl-C while waiting: the workers stop at their next buffer
                    stop.set()
                    raise
        finally:
            if isinstance(outer, CancelEvent):
                outer.remove_callback(stop.set)
        check_cancelled(outer)
        if failures:
            raise next((f for f in failures if not isinstance(f, DownloadCancelled)), failures[0])

    def _fetch_one(
        self,
        attempt: Attempt,
        index: int,
        remote: RemoteFile,
        held: list[int],
        available: int | None,
    ) -> FileRecord:
        store, tracker, plan = self._store, attempt.tracker, attempt.plan
        dest = store.staging_file(attempt.staging, remote.path)

        # Both checks compare with the space free when this download began: the bytes it has
        # written since are in today's used figure, and measuring again would count them twice.
        def on_size(size: int) -> None:
            tracker.set_size(index, size)
            needed = size + sum(held[:index])
            if plan.total_size is None and available is not None and needed > available:
                raise store.no_room(needed, available)

        def reserve(position: int) -> None:
            held[index] = position
            if available is not None and sum(held) > available:
                raise store.no_room(sum(held), available)

        copied = self._from_copy(attempt, index, remote, dest) or self._from_store(
            attempt, index, remote, dest
        )
        if copied is not None:
            return copied
        options = attempt.request.options
        scheme = remote.url.partition("://")[0].lower()
        partial = (
            store.partial(attempt.request.model_name, plan.version, remote.path, remote.url)
            if scheme in {"http", "https"}
            else None
        )
        try:
            outcome = self._transfer.fetch(
                remote,
                dest,
                options,
                on_size=on_size,
                on_position=lambda position: tracker.advance(index, position),
                reserve=reserve,
                cancel=attempt.cancel,
                policy=attempt.policy,
                partial=partial,
            )
        except ModelNotFound as exc:
            if exc.model_name is not None:
                raise
            # The transfer engine knows the URL, not the model: name it for the caller.
            raise ModelNotFound(
                exc.message,
                model_name=attempt.request.model_name,
                version=plan.version,
                url=exc.url,
            ) from exc
        except (DownloadCancelled, InsufficientStorage) as exc:
            if partial is not None:
                _keep_what_resumes(partial, exc, cleanup=options.cleanup_temp_files)
            raise
        verify_outcome(remote, outcome)
        return FileRecord(path=remote.path, size=outcome.size, sha256=outcome.sha256)

    def _from_copy(
        self, attempt: Attempt, index: int, remote: RemoteFile, dest: str
    ) -> FileRecord | None:
        """Read a file whose bytes the store already holds (verified again); None to download.

        The copy is the store's own file, so the request's URL policy does not apply to it.
        """
        copy = self._store.known_copy(remote)
        if copy is None:
            return None
        local = attrs.evolve(remote, url=pathlib.Path(copy).as_uri(), headers={})
        tracker = attempt.tracker
        try:
            outcome = self._transfer.fetch(
                local,
                dest,
                attempt.request.options,
                on_size=lambda size: tracker.set_size(index, size),
                on_position=lambda position: tracker.advance(index, position),
                reserve=lambda _position: None,
                cancel=attempt.cancel,
                policy=None,
                partial=None,
            )
            verify_outcome(local, outcome)
        except (ChecksumMismatch, DownloadFailed) as exc:
            log.warning(
                "The store's copy of %s is not intact (%s); downloading it", remote.path, exc
            )
            return None
        log.debug("%s: read from %s, not downloaded", remote.path, copy)
        return FileRecord(path=remote.path, size=outcome.size, sha256=outcome.sha256)

    def _from_store(
        self, attempt: Attempt, index: int, remote: RemoteFile, dest: str
    ) -> FileRecord | None:
        """On an object store: read an installed object with these bytes; None to download.

        The bytes are verified as a download's are; the commit then copies that object on the
        server instead of uploading them.
        """
        store, tracker = self._store, attempt.tracker
        copy = store.stored_copy(attempt.staging, remote)
        if copy is None:
            return None
        tracker.set_size(index, copy.size)
        try:
            outcome = store.read_copy(
                copy,
                dest,
                remote,
                on_position=lambda position: tracker.advance(index, position),
                cancel=attempt.cancel,
            )
            verify_outcome(remote, outcome)
        except (DownloadCancelled, InsufficientStorage):
            raise
        except (DownloadFailed, OSError) as exc:  # a checksum mismatch, a vanished object
            log.warning(
                "The stored copy of %s is not usable (%s); downloading it", remote.path, exc
            )
            return None
        if (outcome.size, outcome.sha256) != (copy.size, copy.sha256):
            log.warning("The stored copy of %s is not its record's; downloading it", remote.path)
            return None
        store.share(attempt.staging, remote.path, copy)
        log.debug("%s: read from %s, not downloaded", remote.path, copy.path)
        return FileRecord(path=remote.path, size=outcome.size, sha256=outcome.sha256)


def _clear(directory: str) -> None:
    """Empty a staging directory, keeping the directory itself."""
    import shutil  # noqa: PLC0415 - only after a failed mirror copy

    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def _keep_what_resumes(partial: PartialFile, exc: Exception, *, cleanup: bool) -> None:
    """What of a partial a failed transfer keeps: a cancel, nothing unless temp files are kept."""
    if isinstance(exc, DownloadCancelled):
        if cleanup:
            partial.discard()
        return
    _release_unwritten(partial)


def _release_unwritten(partial: PartialFile) -> None:
    """After a 413, keep only the bytes a resume can use: the space reserved past them goes.

    A preallocated single-stream partial is the file's full size on disk from its first byte;
    kept as it is, it would hold that space until ``cache-prune`` and make the next download 413
    too. Without a usable record (nothing resumable) the partial is deleted.
    """
    state = partial.load()
    if state is not None and state.ranges:
        return  # parallel ranges write in place into a sparse file: nothing was reserved
    if state is None or state.completed == 0:
        partial.discard()
        return
    with contextlib.suppress(OSError):
        os.truncate(partial.path, state.completed)
