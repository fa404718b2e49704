"""Identical files on an object store: placed by a server-side copy, not downloaded or uploaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from model_fetch import Checksum, Downloader, RemoteFile, StoreUnavailable
from model_fetch.storage import make_record
from support.hfhub import TestHub
from support.s3 import RecordingProxy, S3Request
from support.shared import NEW, REPO, SHARED, V1, V2, fetched

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from support.s3 import MotoServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestHub]:
    with TestHub().start() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


@pytest.fixture
def proxy(
    s3: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RecordingProxy]:
    monkeypatch.setenv("MODEL_FETCH_STAGING", str(tmp_path / "staging"))
    with RecordingProxy(s3) as running:
        yield running


def _open(proxy: RecordingProxy, bucket: str) -> Downloader:
    """A downloader on ``s3://bucket/models`` whose every S3 request passes through ``proxy``."""
    return Downloader(
        store=f"s3://{bucket}/models", storage_options={"endpoint_url": proxy.endpoint}
    )


def _put_bytes(requests: list[S3Request], name: str) -> int:
    """Body bytes of the uploads (PUT, UploadPart) to keys ending in ``/name``."""
    return sum(r.body_bytes for r in requests if r.method == "PUT" and r.key.endswith(f"/{name}"))


def test_v2_sharing_nine_of_ten_files_is_copied_on_the_server(
    hub: TestHub, s3: MotoServer, proxy: RecordingProxy
) -> None:
    """The origin serves only the new file, S3 receives only its bytes, the nine are copied."""
    bucket = s3.new_bucket()
    fs = s3.filesystem()
    first = hub.add_repo(REPO, V1)
    with _open(proxy, bucket) as downloader:
        downloader.download(REPO, first, source="huggingface")
        assert _put_bytes(proxy.requests, SHARED[0].path) >= SHARED[0].size, "v1 was uploaded"
        second = hub.add_commit(REPO, V2, ref="main")
        origin_before, s3_before = len(hub.requests), len(proxy.requests)
        result = downloader.download(REPO, second, source="huggingface")
        assert result.checksum_verified
        assert fetched(hub, origin_before) == [NEW.path]

        sent = proxy.requests[s3_before:]
        assert _put_bytes(sent, NEW.path) >= NEW.size, "the new file is uploaded"
        for file in SHARED:
            assert _put_bytes(sent, file.path) == 0, f"{file.path} was uploaded again"
        copies = sorted(r.key.rsplit("/", 1)[-1] for r in sent if r.copy_source)
        assert copies == sorted(file.path for file in SHARED)

        for file in V2:
            assert fs.cat_file(f"{result.directory}/{file.path}") == file.data  # type: ignore[attr-defined]
        assert downloader.verify(REPO, second).ok
        assert downloader.cache_info().deduplicated_bytes == 0, "each version holds its objects"

        downloader.remove(REPO, first)
        assert downloader.verify(REPO, second).ok
        for file in V2:
            assert fs.cat_file(f"{result.directory}/{file.path}") == file.data  # type: ignore[attr-defined]


def test_a_damaged_object_is_downloaded_and_uploaded_again(
    hub: TestHub, s3: MotoServer, proxy: RecordingProxy
) -> None:
    """An installed object whose bytes no longer match its record is never copied."""
    bucket = s3.new_bucket()
    first = hub.add_repo(REPO, V1)
    with _open(proxy, bucket) as downloader:
        v1 = downloader.download(REPO, first, source="huggingface")
        damaged = SHARED[0]
        data = bytearray(damaged.data)
        data[5] ^= 0xFF
        key = f"{v1.directory.removeprefix('s3://')}/{damaged.path}".split("/", 1)[1]
        s3.client().put_object(Bucket=bucket, Key=key, Body=bytes(data))
        second = hub.add_commit(REPO, V2, ref="main")
        origin_before, s3_before = len(hub.requests), len(proxy.requests)
        result = downloader.download(REPO, second, source="huggingface")
        assert fetched(hub, origin_before) == sorted([damaged.path, NEW.path])
        sent = proxy.requests[s3_before:]
        assert _put_bytes(sent, damaged.path) >= damaged.size
        assert not [r for r in sent if r.copy_source and r.key.endswith(f"/{damaged.path}")]
        assert downloader.verify(REPO, second).ok
        fs = s3.filesystem()
        assert fs.cat_file(f"{result.directory}/{damaged.path}") == damaged.data  # type: ignore[attr-defined]


def test_copies_placed_before_a_stopped_commit_leave_nothing(
    hub: TestHub, s3: MotoServer, proxy: RecordingProxy
) -> None:
    """A commit stopped after its server-side copies shows no install and leaves no object."""
    bucket = s3.new_bucket()
    first = hub.add_repo(REPO, V1)
    with _open(proxy, bucket) as downloader:
        downloader.download(REPO, first, source="huggingface")
        store = downloader.store
        v1 = store.read_record(REPO, first)
        assert v1 is not None
        file = v1.files[0]
        remote = RemoteFile(
            url="https://unused.invalid/file",
            path=file.path,
            size=file.size,
            checksums=(Checksum("sha256", file.sha256),),
        )
        staging = store.new_staging()
        copy = store.stored_copy(staging, remote)
        assert copy is not None
        dest = store.staging_file(staging, file.path)
        store.read_copy(copy, dest, remote, on_position=lambda _position: None, cancel=None)
        store.share(staging, file.path, copy)
        record = make_record(
            name="acme/other",
            version="v1",
            source="url",
            download_url=remote.url,
            files=[file],
            metadata={},
            checksum_verified=True,
        )
        before = len(proxy.requests)

        def stop() -> None:
            raise RuntimeError("stopped right before the record")

        with pytest.raises(StoreUnavailable, match="stopped right before the record"):
            store.commit(staging, record, guard=stop)
        assert [r for r in proxy.requests[before:] if r.copy_source], "the copy was placed"
        assert store.read_record("acme/other", "v1") is None
        assert s3.filesystem().find(f"{bucket}/models/models/acme%2Fother") == []  # type: ignore[attr-defined]
        store.discard(staging)
