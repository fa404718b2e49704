"""Downloading from a URL: verification, reuse, conflicts, retries, stalls and failures."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest

from model_fetch import (
    ChecksumMismatch,
    Downloader,
    DownloadFailed,
    InvalidRequest,
    ModelExists,
    ModelNotFound,
    OfflineModeError,
    Progress,
)
from support.helpers import COMPLETED_KEYS, FakeClock, installed_files, payload, sha256, stray_files
from support.server import Fault, FileServer

DATA = payload(300_000)


@pytest.fixture
def model_url(server: FileServer) -> str:
    server.add_file("/models/tiny-v1.pth", DATA)
    return server.url("/models/tiny-v1.pth")


@pytest.mark.parametrize("algorithm", ["sha256", "sha512", "sha1", "md5", "blake2b"])
def test_happy_path_for_each_algorithm(
    downloader: Downloader, model_url: str, algorithm: str
) -> None:
    """A download verified with any supported algorithm installs the exact bytes served."""
    digest = hashlib.new(algorithm, DATA).hexdigest().upper()  # hex is case-insensitive
    result = downloader.download(
        "tiny", "v1", download_url=model_url, checksum=f"{algorithm}:{digest}"
    )
    assert result.checksum_verified is True
    assert Path(result.file_path).read_bytes() == DATA
    assert Path(result.file_path).name == "tiny-v1.pth"
    body = result.to_dict()
    assert body["status"] == "completed"
    assert body["installation"]["status"] == "success"
    assert body["installation"]["model_id"] == "tiny_v1"
    assert body["installation"]["ready_for_inference"] is False
    info = downloader.info("tiny", "v1")
    assert info.files[0].sha256 == sha256(DATA)
    assert info.readiness["checked"] == "content", "random bytes named .pth fail as no checkpoint"
    assert "tiny-v1.pth" in info.readiness["reason"]


def test_bare_hex_is_sha256(downloader: Downloader, model_url: str) -> None:
    """A bare 64-character hex checksum is taken as sha256."""
    result = downloader.download("tiny", "v1", download_url=model_url, checksum=sha256(DATA))
    assert result.checksum_verified


def test_no_checksum_means_not_verified(downloader: Downloader, model_url: str) -> None:
    """Without a digest to check, checksum_verified is false, never a guess."""
    result = downloader.download("tiny", "v1", download_url=model_url)
    assert result.checksum_verified is False
    assert downloader.info("tiny").checksum_verified is False


def test_completed_body_matches_contract_keys(downloader: Downloader, model_url: str) -> None:
    """The result serialises to exactly the contract's "Download Completed" keys."""
    body = downloader.download("tiny", "v1", download_url=model_url).to_dict()
    assert list(body) == COMPLETED_KEYS
    assert list(body["installation"]) == [
        "status",
        "installed_at",
        "model_id",
        "ready_for_inference",
    ]
    assert body["installation"]["installed_at"].endswith("Z")
    json.dumps(body)


def test_second_download_makes_no_request(
    downloader: Downloader, server: FileServer, model_url: str
) -> None:
    """An installed, intact version is returned at once with no network request."""
    first = downloader.download("tiny", "v1", download_url=model_url, checksum=sha256(DATA))
    server.reset_requests()
    second = downloader.download("tiny", "v1", download_url=model_url, checksum=sha256(DATA))
    assert server.requests == []
    assert second.reused
    assert second.file_path == first.file_path
    assert second.checksum_verified is True


def test_damaged_install_is_downloaded_again(
    downloader: Downloader, server: FileServer, model_url: str
) -> None:
    """A version whose file went missing is not reused; it is fetched again."""
    first = downloader.download("tiny", "v1", download_url=model_url)
    Path(first.file_path).unlink()
    server.reset_requests()
    second = downloader.download("tiny", "v1", download_url=model_url)
    assert len(server.requests) == 1
    assert Path(second.file_path).read_bytes() == DATA


def test_checksum_mismatch_installs_nothing(
    downloader: Downloader, store: Path, model_url: str
) -> None:
    """Bytes that do not match the checksum raise ChecksumMismatch and leave nothing behind."""
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch) as caught:
        downloader.download("tiny", "v1", download_url=model_url, checksum=f"sha256:{wrong}")
    error = caught.value
    assert error.expected == wrong
    assert error.actual == sha256(DATA)
    assert error.status_code == 500
    assert downloader.list_models() == []
    assert installed_files(store) == []
    assert stray_files(store) == []


def test_corrupted_bytes_are_caught(
    downloader: Downloader, server: FileServer, store: Path, model_url: str
) -> None:
    """Same-size corruption is not integrity: the digest catches it."""
    server.queue("/models/tiny-v1.pth", Fault(wrong_bytes=True))
    with pytest.raises(ChecksumMismatch):
        downloader.download("tiny", "v1", download_url=model_url, checksum=sha256(DATA))
    assert installed_files(store) == []


def test_exists_error_and_force(downloader: Downloader, server: FileServer, model_url: str) -> None:
    """if_exists="error" raises 409 with the contract's message; force_download replaces."""
    first = downloader.download("tiny", "v1", download_url=model_url)
    with pytest.raises(ModelExists) as caught:
        downloader.download("tiny", "v1", download_url=model_url, if_exists="error")
    assert caught.value.status_code == 409
    assert str(caught.value) == (
        "Model 'tiny' version 'v1' already exists. Use force_download=true to override."
    )
    server.add_file("/models/tiny-v1.pth", DATA[::-1])
    server.reset_requests()
    forced = downloader.download(
        "tiny", "v1", download_url=model_url, force_download=True, if_exists="error"
    )
    assert len(server.requests) == 1
    assert Path(forced.file_path).read_bytes() == DATA[::-1]
    assert not Path(first.file_path).exists(), "the old generation is removed after the switch"
    assert [m.version for m in downloader.list_models()] == ["v1"]


def test_retries_end_in_success(
    downloader: Downloader, server: FileServer, clock: FakeClock, model_url: str
) -> None:
    """5xx bursts and dropped connections are retried with growing backoff, then succeed."""
    server.queue(
        "/models/tiny-v1.pth",
        Fault(status=503),
        Fault(drop_after=1000),
        Fault(status=502),
    )
    result = downloader.download("tiny", "v1", download_url=model_url, checksum=sha256(DATA))
    assert Path(result.file_path).read_bytes() == DATA
    assert len(server.requests_for("/models/tiny-v1.pth")) == 4
    assert len(clock.sleeps) == 3
    # Equal jitter: each delay lies in [base*2^(n-1)/2, base*2^(n-1)], where n counts failures
    # since the last attempt that got further; the dropped connection made progress (1000
    # bytes), so the count starts again after it.
    for number, delay in zip((1, 1, 2), clock.sleeps, strict=True):
        ceiling = 0.5 * 2 ** (number - 1)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_is_honoured(
    downloader: Downloader, server: FileServer, clock: FakeClock, model_url: str
) -> None:
    """A 429 with Retry-After waits exactly as long as the server asked."""
    server.queue("/models/tiny-v1.pth", Fault(status=429, retry_after="7"))
    downloader.download("tiny", "v1", download_url=model_url)
    assert clock.sleeps == [7.0]


def test_retry_exhaustion_reports_attempts(
    downloader: Downloader, server: FileServer, store: Path, model_url: str
) -> None:
    """When every attempt fails, DownloadFailed says how many attempts were made."""
    server.queue("/models/tiny-v1.pth", *[Fault(status=500)] * 3)
    with pytest.raises(DownloadFailed) as caught:
        downloader.download("tiny", "v1", download_url=model_url, options={"retry_count": 2})
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)
    assert len(server.requests_for("/models/tiny-v1.pth")) == 3
    assert installed_files(store) == []
    assert stray_files(store) == []


def test_zero_retries_means_one_attempt(
    downloader: Downloader, server: FileServer, model_url: str
) -> None:
    """retry_count counts retries after the first attempt: 0 means exactly one request."""
    server.queue("/models/tiny-v1.pth", Fault(status=503))
    with pytest.raises(DownloadFailed):
        downloader.download("tiny", "v1", download_url=model_url, options={"retry_count": 0})
    assert len(server.requests_for("/models/tiny-v1.pth")) == 1


@pytest.mark.parametrize("status", [401, 403, 400])
def test_other_4xx_are_not_retried(
    downloader: Downloader, server: FileServer, model_url: str, status: int
) -> None:
    """Client errors other than 429 fail at once: retrying them cannot help."""
    server.queue("/models/tiny-v1.pth", Fault(status=status))
    with pytest.raises(DownloadFailed) as caught:
        downloader.download("tiny", "v1", download_url=model_url)
    assert f"HTTP {status}" in str(caught.value)
    assert len(server.requests_for("/models/tiny-v1.pth")) == 1


def test_404_is_model_not_found(downloader: Downloader, server: FileServer) -> None:
    """A URL that answers 404 raises ModelNotFound (404), not retried."""
    with pytest.raises(ModelNotFound) as caught:
        downloader.download("tiny", "v1", download_url=server.url("/missing.bin"))
    assert caught.value.status_code == 404
    assert len(server.requests) == 1
    # The transfer engine only knows the URL; the caller learns which model was not found.
    assert (caught.value.model_name, caught.value.version) == ("tiny", "v1")
    assert caught.value.url == server.url("/missing.bin")


def test_truncated_body_is_never_success(
    downloader: Downloader, server: FileServer, store: Path, model_url: str
) -> None:
    """A connection that closes early is an incomplete download, never an install."""
    # The second attempt resumes at byte 5000 and is cut at once: no progress, budget spent.
    server.queue(
        "/models/tiny-v1.pth", Fault(drop_after=5000, reset=True), Fault(drop_after=0, reset=True)
    )
    with pytest.raises(DownloadFailed) as caught:
        downloader.download("tiny", "v1", download_url=model_url, options={"retry_count": 1})
    assert caught.value.attempts == 2
    assert installed_files(store) == []


def test_stall_guard_aborts_a_slow_drip(server: FileServer, store: Path) -> None:
    """A server dripping a few bytes a second is aborted after `timeout` seconds."""
    server.add_file("/slow.bin", DATA)
    server.queue("/slow.bin", Fault(drip=(10, 0.05)))
    with Downloader(store=store) as downloader, pytest.raises(DownloadFailed) as caught:
        downloader.download(
            "slow",
            "v1",
            download_url=server.url("/slow.bin"),
            options={"timeout": 1, "retry_count": 0},
        )
    assert "stalled" in str(caught.value)
    assert downloader.list_models() == []


def test_full_stall_times_out(server: FileServer, store: Path) -> None:
    """A server that goes silent mid-body is aborted by the read timeout."""
    server.add_file("/stall.bin", DATA)
    server.queue("/stall.bin", Fault(stall_after=1000))
    with Downloader(store=store) as downloader, pytest.raises(DownloadFailed) as caught:
        downloader.download(
            "stall",
            "v1",
            download_url=server.url("/stall.bin"),
            options={"timeout": 0.5, "retry_count": 0},
        )
    assert "after 1 attempt" in str(caught.value)


def test_identity_encoding_is_requested(
    downloader: Downloader, server: FileServer, model_url: str
) -> None:
    """Accept-Encoding: identity is sent, so the stored bytes are the bytes served."""
    server.queue("/models/tiny-v1.pth", Fault(gzip=True))
    result = downloader.download("tiny", "v1", download_url=model_url, checksum=sha256(DATA))
    assert server.requests[0].headers["accept-encoding"] == "identity"
    assert Path(result.file_path).read_bytes() == DATA


def test_unknown_size_chunked_download(downloader: Downloader, server: FileServer) -> None:
    """A chunked response with no Content-Length still downloads and verifies."""
    server.add_file("/chunked.bin", DATA, content_length=False, accept_ranges=False)
    result = downloader.download(
        "chunked", "v1", download_url=server.url("/chunked.bin"), checksum=sha256(DATA)
    )
    assert result.size_bytes == len(DATA)


def test_file_url_goes_through_fsspec(downloader: Downloader, tmp_path: Path) -> None:
    """file:// URLs are read through fsspec and verified like any other."""
    source = tmp_path / "weights.safetensors"
    source.write_bytes(DATA)
    result = downloader.download(
        "local", "v1", download_url=source.as_uri(), checksum=f"sha256:{sha256(DATA)}"
    )
    assert Path(result.file_path).read_bytes() == DATA
    assert result.checksum_verified


def test_missing_file_url_is_not_found(downloader: Downloader, tmp_path: Path) -> None:
    """A file:// URL that does not exist raises ModelNotFound naming the model."""
    with pytest.raises(ModelNotFound) as caught:
        downloader.download("local", "v1", download_url=(tmp_path / "nope.bin").as_uri())
    assert caught.value.model_name == "local"


def test_progress_snapshots(downloader: Downloader, server: FileServer) -> None:
    """Progress callbacks get contract-shaped snapshots that never run backwards."""
    big = payload(3_000_000)
    server.add_file("/big.bin", big)
    server.queue("/big.bin", Fault(drop_after=1_500_000))
    snapshots: list[Progress] = []
    downloader.download(
        "big",
        "v1",
        download_url=server.url("/big.bin"),
        options={"chunk_size": 65536},
        progress=snapshots.append,
    )
    assert snapshots, "at least one snapshot"
    done = [s.downloaded_bytes for s in snapshots]
    assert done == sorted(done)
    assert [s.current_stage for s in snapshots][-3:] == ["verifying", "installing", "installing"]
    last = snapshots[-1]
    assert last.percentage == 100.0
    assert last.total_bytes == len(big)
    assert set(last.to_dict()) == {
        "percentage",
        "downloaded_mb",
        "total_mb",
        "speed_mbps",
        "eta_seconds",
        "current_stage",
    }
    assert all(
        isinstance(v, int | float) for k, v in last.to_dict().items() if k != "current_stage"
    )


@pytest.mark.parametrize(
    "checksum",
    ["sha256:xyz", "sha256:" + "a" * 63, "crc32:deadbeef", "abc", "md5:" + "g" * 32, "sha256:../x"],
)
def test_malformed_checksum_is_invalid(
    downloader: Downloader, server: FileServer, model_url: str, checksum: str
) -> None:
    """A malformed checksum is refused (400) before any request is made."""
    with pytest.raises(InvalidRequest) as caught:
        downloader.download("tiny", "v1", download_url=model_url, checksum=checksum)
    assert caught.value.status_code == 400
    assert server.requests == []


@pytest.mark.parametrize(
    "options",
    [
        {"chunk_size": 0},
        {"chunk_size": "8192"},
        {"timeout": -1},
        {"retry_count": True},
        {"verify_ssl": 1},
        {"connections": 0},
        {"parallel_min_size": 4096},
        {"bogus": 1},
    ],
)
def test_bad_options_are_invalid(downloader: Downloader, model_url: str, options: dict) -> None:
    """Options of the wrong type or range, and unknown keys, are refused with 400."""
    with pytest.raises(InvalidRequest):
        downloader.download("tiny", "v1", download_url=model_url, options=options)


@pytest.mark.parametrize("url", ["not a url", "http://", "://x", "http://host:99999/x"])
def test_bad_urls_are_invalid(downloader: Downloader, url: str) -> None:
    """A URL that cannot be fetched is refused with 400."""
    with pytest.raises(InvalidRequest):
        downloader.download("tiny", "v1", download_url=url)


def test_offline_mode_serves_installed_only(
    store: Path, model_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODEL_FETCH_OFFLINE=1 serves installed models and names itself when it refuses."""
    with Downloader(store=store) as online:
        online.download("tiny", "v1", download_url=model_url)
    monkeypatch.setenv("MODEL_FETCH_OFFLINE", "1")
    with Downloader(store=store) as offline:
        assert offline.download("tiny", "v1", download_url=model_url).reused
        with pytest.raises(OfflineModeError) as caught:
            offline.download("tiny", "v2", download_url=model_url)
    assert "MODEL_FETCH_OFFLINE" in str(caught.value)


def test_hf_hub_offline_is_honoured(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub's HF_HUB_OFFLINE=1 also means cache hits only."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with Downloader(store=store) as offline, pytest.raises(OfflineModeError) as caught:
        offline.download("tiny", "v1", download_url="http://127.0.0.1:9/x.bin")
    assert "HF_HUB_OFFLINE" in str(caught.value)


def test_errors_pickle_with_their_facts(
    downloader: Downloader, server: FileServer, model_url: str
) -> None:
    """Errors survive pickling (process pools, job queues) with their attributes."""
    server.queue("/models/tiny-v1.pth", Fault(status=500))
    with pytest.raises(DownloadFailed) as caught:
        downloader.download("tiny", "v1", download_url=model_url, options={"retry_count": 0})
    clone = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own error object
    assert type(clone) is DownloadFailed
    assert clone.attempts == 1
    assert str(clone) == str(caught.value)


def test_metadata_is_kept(downloader: Downloader, model_url: str) -> None:
    """The request's metadata is stored in the install record and shown by info()."""
    meta = {"description": "tiny", "tags": ["nlp"], "author": "me"}
    downloader.download("tiny", "v1", download_url=model_url, metadata=meta)
    assert downloader.info("tiny", "v1").metadata == meta
