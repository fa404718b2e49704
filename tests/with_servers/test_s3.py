"""A store on S3 (moto's server on 127.0.0.1): every command, record-last commits, and leases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from model_fetch import (
    ChecksumMismatch,
    DownloadCancelled,
    Downloader,
    DownloadRequest,
    ModelNotFound,
    Progress,
    StoreUnavailable,
)
from model_fetch.storage import Lease, LeaseLost
from support.helpers import payload, sha256
from support.s3 import free_port

if TYPE_CHECKING:
    from pathlib import Path

    from support.s3 import MotoServer
    from support.server import FileServer

pytestmark = pytest.mark.timeout(120)

BIG = payload(12 * 2**20, seed=7)  # two multipart parts of 8 MiB and 4 MiB
SMALL = payload(300_000, seed=8)


def _objects(s3: MotoServer, prefix: str) -> list[str]:
    fs = s3.filesystem()
    return sorted(fs.find(prefix))  # type: ignore[attr-defined]


def test_every_command_on_an_s3_store(
    s3: MotoServer, server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Download, list, info, verify, cache-info and remove all work on s3://, files readable."""
    bucket = s3.new_bucket()
    monkeypatch.setenv("MODEL_FETCH_STAGING", str(tmp_path / "staging"))
    server.add_file("/big.bin", BIG)
    seen: list[Progress] = []
    url = f"s3://{bucket}/models"
    with Downloader(store=url, lease_ttl=2) as dl:
        result = dl.download(
            "org/big",
            "v1",
            download_url=server.url("/big.bin"),
            checksum=sha256(BIG),
            progress=seen.append,
        )
        assert result.file_path.startswith(f"s3://{bucket}/models/models/org%2Fbig/v1/g-")
        assert result.file_path.endswith("/big.bin")
        fs = s3.filesystem()
        assert fs.cat_file(result.file_path) == BIG, "one object under a readable key"  # type: ignore[attr-defined]

        uploading = [p for p in seen if p.current_stage == "installing" and p.percentage < 100]
        assert uploading, "the upload counts in the percentage, below 100% while bytes move"
        assert seen[-1].percentage == 100.0
        percentages = [p.percentage for p in seen]
        assert percentages == sorted(percentages)

        assert [m.name for m in dl.list_models()] == ["org/big"]
        info = dl.info("org/big")
        assert info.files[0].sha256 == sha256(BIG)
        assert dl.verify("org/big").ok
        cache = dl.cache_info().to_dict()
        assert cache["cache_info"]["cache_directory"] == url
        assert cache["model_cache"]["entry_count"] == 1
        assert cache["cache_info"]["available_cache_size_mb"] > 0, "the staging disk's space"
        assert not os.listdir(
            tmp_path / "staging" / os.listdir(tmp_path / "staging")[0] / ".staging"
        )

        again = dl.download("org/big", "v1", download_url=server.url("/big.bin"))
        assert again.reused
        assert len(server.requests_for("/big.bin")) == 1

        # A changed object is reported by verify.
        fs.pipe_file(result.file_path, b"x" * len(BIG))  # type: ignore[attr-defined]
        assert not dl.verify("org/big").ok

        removed = dl.remove("org/big")
        assert removed.freed_bytes == len(BIG)
        assert [o for o in _objects(s3, f"{bucket}/models/models") if "install.json" in o] == []
        assert not [o for o in _objects(s3, f"{bucket}/models/models") if "/g-" in o]
        assert dl.list_models() == []
        with pytest.raises(ModelNotFound):
            dl.info("org/big")


@pytest.mark.slow
def test_cli_on_s3_store(s3: MotoServer, server: FileServer, tmp_path: Path) -> None:
    """The CLI works against s3:// with the endpoint taken from the environment alone."""
    bucket = s3.new_bucket()
    server.add_file("/m.bin", SMALL)
    env = {**os.environ, **s3.env, "MODEL_FETCH_STAGING": str(tmp_path / "stage")}
    base = [sys.executable, "-m", "model_fetch", "--store", f"s3://{bucket}/s"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    out = run("download", "m", "--version", "v1", "--url", server.url("/m.bin"), "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(run("list", "--json").stdout)
    assert [m["name"] for m in listed["models"]] == ["m"]
    assert run("verify", "m").returncode == 0
    assert json.loads(run("cache-info", "--json").stdout)["model_cache"]["entry_count"] == 1
    pruned = run("cache-prune", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["expired_leases"] == 0
    assert run("remove", "m", "--yes").returncode == 0
    assert json.loads(run("list", "--json").stdout)["total"] == 0


def test_missing_bucket_is_store_unavailable_and_never_created(
    s3: MotoServer, server: FileServer, tmp_path: Path
) -> None:
    """A missing bucket: a one-line StoreUnavailable (CLI exit 1), and no bucket appears."""
    server.add_file("/m.bin", SMALL)
    missing = "mf-missing-bucket"
    with Downloader(store=f"s3://{missing}/x") as dl:
        with pytest.raises(StoreUnavailable, match="does not exist"):
            dl.download("m", "v1", download_url=server.url("/m.bin"))
        with pytest.raises(StoreUnavailable):
            dl.list_models()
    assert server.requests_for("/m.bin") == [], "checked before any byte moved"
    env = {**os.environ, **s3.env, "MODEL_FETCH_STAGING": str(tmp_path / "stage")}
    out = subprocess.run(
        [sys.executable, "-m", "model_fetch", "--store", f"s3://{missing}/x", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert not s3.filesystem().exists(missing)  # type: ignore[attr-defined]


def test_checksum_mismatch_leaves_no_record(s3: MotoServer, server: FileServer) -> None:
    """A download whose bytes do not match uploads nothing and commits no record."""
    bucket = s3.new_bucket()
    server.add_file("/m.bin", SMALL)
    with Downloader(store=f"s3://{bucket}/s") as dl:
        with pytest.raises(ChecksumMismatch):
            dl.download("m", "v1", download_url=server.url("/m.bin"), checksum="0" * 64)
        assert dl.list_models() == []
    leftovers = [o for o in _objects(s3, f"{bucket}/s") if "/.leases/" not in o]
    assert leftovers == []
    assert not [o for o in _objects(s3, f"{bucket}/s/.leases") if o.endswith(".json")]


def test_failed_upload_aborts_its_multipart_upload(s3: MotoServer, server: FileServer) -> None:
    """An upload stopped half-way aborts its multipart upload and commits nothing."""
    bucket = s3.new_bucket()
    server.add_file("/big.bin", BIG)
    cancel = threading.Event()

    def on_progress(snapshot: Progress) -> None:
        if snapshot.current_stage == "installing" and snapshot.percentage > 50:
            cancel.set()

    request = DownloadRequest(model_name="big", version="v1", download_url=server.url("/big.bin"))
    fs = s3.filesystem()
    with Downloader(store=f"s3://{bucket}/s") as dl:
        with pytest.raises(DownloadCancelled):
            dl.run(request, progress=on_progress, cancel=cancel)
        assert dl.list_models() == []
    assert fs.list_multipart_uploads(bucket) == []  # type: ignore[attr-defined]
    assert not [o for o in _objects(s3, f"{bucket}/s/models") if "/g-" in o]


def _registry(root: Path, marker: str) -> None:
    version = root / "pair" / "v1"
    version.mkdir(parents=True, exist_ok=True)
    for name in ("a.bin", "b.bin"):
        (version / name).write_bytes(marker.encode() * 50_000)


@pytest.mark.slow
def test_force_replace_with_a_concurrent_reader(
    s3: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader never sees old and new files mixed; the old generation outlives one lease time."""
    bucket = s3.new_bucket()
    registry = tmp_path / "registry"
    _registry(registry, "A")
    url = f"s3://{bucket}/s"
    ttl = 2.0
    with Downloader(store=url, local_registry=registry, lease_ttl=ttl) as dl:
        first = dl.download("pair", "v1", source="local")
        mixes: list[set[bytes]] = []
        seen: set[bytes] = set()
        stop = threading.Event()

        def reader() -> None:
            with Downloader(store=url, lease_ttl=ttl) as other:
                fs = other.store.fs
                while not stop.is_set():
                    record = other.store.installed("pair", "v1")
                    if record is None:
                        continue
                    try:
                        heads = {
                            fs.cat_file(other.store.installed_path(record, f.path), start=0, end=1)
                            for f in record.files
                        }
                    except FileNotFoundError:
                        continue  # deleted after a lease time: a real reader re-reads the record
                    seen.update(heads)
                    if len(heads) != 1:
                        mixes.append(heads)

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            time.sleep(0.5)
            _registry(registry, "B")
            second = dl.download("pair", "v1", source="local", force_download=True)
            old = first.directory.removeprefix("s3://")
            assert second.directory != first.directory
            assert s3.filesystem().find(old), "the old generation stays for readers"  # type: ignore[attr-defined]
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join()
        assert mixes == []
        assert seen == {b"A", b"B"}
        deadline = time.monotonic() + ttl + 5
        while s3.filesystem().find(old) and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.2)
        assert not s3.filesystem().find(old), "deleted one lease time after the switch"  # type: ignore[attr-defined]
        assert dl.verify("pair").ok


def test_lease_contention_one_download(s3: MotoServer, server: FileServer) -> None:
    """Two downloaders on one S3 store: one fetches while holding the lease, the other reuses."""
    bucket = s3.new_bucket()
    server.add_file("/m.bin", SMALL)
    from support.server import Fault  # noqa: PLC0415

    server.queue("/m.bin", Fault(drip=(30_000, 0.1)))
    results = []

    def fetch() -> None:
        with Downloader(store=f"s3://{bucket}/s", lease_ttl=2) as dl:
            results.append(dl.download("m", "v1", download_url=server.url("/m.bin")))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert len({r.directory for r in results}) == 1
    assert sorted(r.reused for r in results) == [False, True]
    assert len([r for r in server.requests_for("/m.bin") if r.method == "GET"]) == 1


def test_lease_renewal_takeover_and_loss(s3: MotoServer) -> None:
    """A renewed lease is never taken; a silent one is, and its old holder cannot commit."""
    bucket = s3.new_bucket()
    fs = s3.filesystem()
    path = f"{bucket}/leases/x.json"
    holder = Lease(fs, path, 1.0, what="x")
    assert holder.try_acquire()
    waiter = Lease(fs, path, 1.0, what="x")
    with pytest.raises(StoreUnavailable, match="Timed out"):
        waiter.acquire(timeout=2.5)  # the holder renews every third of a second
    holder._stop.set()  # the holder's renewals stop, as if its process froze
    holder._renewer.join()  # type: ignore[union-attr]
    started = time.monotonic()
    assert waiter.acquire(timeout=10)
    assert time.monotonic() - started >= 1.0
    assert waiter.took_over
    with pytest.raises(LeaseLost):
        holder.check()
    waiter.release()
    assert not fs.exists(path)  # type: ignore[attr-defined]


def test_mirror_without_conditional_writes_is_refused(server: FileServer, store: Path) -> None:
    """A mirror that cannot do conditional writes is refused with a clear error."""
    server.add_file("/m.bin", SMALL)
    with (
        Downloader(store=store, mirror="memory://mf-mirror") as dl,
        pytest.raises(StoreUnavailable, match="conditional writes"),
    ):
        dl.download("m", "v1", download_url=server.url("/m.bin"))


def _serve(
    s3: MotoServer, url: str, tmp_path: Path, name: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, **s3.env, "MODEL_FETCH_STAGING": str(tmp_path / name)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "model_fetch",
            "--store",
            url,
            "-q",
            "serve",
            "--port",
            str(port),
            "--allow-private-urls",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


@pytest.mark.slow
def test_two_serve_processes_share_one_s3_store(
    s3: MotoServer, server: FileServer, tmp_path: Path
) -> None:
    """A model installed through one REST server is listed by another on the same store."""
    import httpx  # noqa: PLC0415

    bucket = s3.new_bucket()
    server.add_file("/m.bin", SMALL)
    url = f"s3://{bucket}/s"
    procs = [_serve(s3, url, tmp_path, f"n{i}") for i in range(2)]
    try:
        clients = [
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for _, port in procs
        ]
        for client in clients:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        body = {"model_name": "m", "version": "v1", "download_url": server.url("/m.bin")}
        answer = clients[0].post("/model-download", json=body, params={"wait": 30})
        assert answer.status_code == 200, answer.text
        listed = clients[1].get("/models").json()
        assert [m["name"] for m in listed["models"]] == ["m"]
        assert clients[1].get("/model-info/m").status_code == 200
        for client in clients:
            client.close()
    finally:
        for process, _port in procs:
            process.terminate()
            process.wait(timeout=15)


def test_cache_prune_clears_leases_orphans_and_abandoned_uploads(
    s3: MotoServer, server: FileServer
) -> None:
    """cache-prune removes dead leases, unreferenced generations and abandoned uploads only."""
    import boto3  # noqa: PLC0415 - comes with moto

    bucket = s3.new_bucket()
    server.add_file("/m.bin", SMALL)
    fs = s3.filesystem()
    root = f"{bucket}/s"
    with Downloader(store=f"s3://{root}", lease_ttl=0.5) as dl:
        kept = dl.download("m", "v1", download_url=server.url("/m.bin"))
        orphan = f"{root}/models/m/v1/g-0123456789abcdef/m.bin"
        fs.pipe_file(orphan, b"left by a crashed node")  # type: ignore[attr-defined]
        fs.pipe_file(f"{root}/.leases/dead.json", b"{}")  # type: ignore[attr-defined]
        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_multipart_upload(Bucket=bucket, Key="s/models/m/v1/g-ffffffffffffffff/x")
        client.create_multipart_upload(Bucket=bucket, Key="elsewhere/x")
        time.sleep(1.2)  # more than twice the lease time, on the store's clock
        counts = dl.prune_objects(older_than=0)
        assert counts == {"expired_leases": 1, "orphaned_generations": 1, "abandoned_uploads": 1}
        assert not fs.exists(orphan)  # type: ignore[attr-defined]
        assert [u["Key"] for u in fs.list_multipart_uploads(bucket)] == ["elsewhere/x"]  # type: ignore[attr-defined]
        assert dl.verify("m").ok, "the committed generation stays"
        assert dl.info("m").directory == kept.directory


def test_untrusted_record_paths_are_refused(s3: MotoServer) -> None:
    """A record on a shared store whose file path escapes its directory is ignored."""
    bucket = s3.new_bucket()
    fs = s3.filesystem()
    with Downloader(store=f"s3://{bucket}/s") as dl:
        record = {
            "format": 1,
            "name": "evil",
            "version": "v1",
            "source": "url",
            "download_url": "http://x/y",
            "files": [{"path": "../../../etc/passwd", "size": 1, "sha256": "0" * 64}],
            "installed_at": "2026-01-01T00:00:00Z",
            "metadata": {},
            "model_id": "evil_v1",
            "readiness": {"checked": None, "reason": None},
            "ready_for_inference": False,
            "checksum_verified": False,
            "generation": "g-0123456789abcdef",
            "primary": None,
        }
        fs.pipe_file(f"{bucket}/s/models/evil/v1/install.json", json.dumps(record).encode())  # type: ignore[attr-defined]
        assert dl.store.read_record("evil", "v1") is None
        assert dl.list_models() == []


@pytest.mark.slow
def test_a_holder_that_lost_its_lease_does_not_commit(s3: MotoServer, server: FileServer) -> None:
    """When another node takes the lease over mid-download, the old holder writes no record."""
    import hashlib  # noqa: PLC0415

    from support.server import Fault  # noqa: PLC0415

    bucket = s3.new_bucket()
    server.add_file("/m.bin", SMALL)
    server.queue("/m.bin", Fault(drip=(50_000, 0.3)))  # about 2.4 s
    fs = s3.filesystem()
    lease = f"{bucket}/s/.leases/{hashlib.sha256(b'm' + bytes(1) + b'v1').hexdigest()[:32]}.json"
    with Downloader(store=f"s3://{bucket}/s", lease_ttl=1) as dl:

        def steal() -> None:  # once the download holds the lease and bytes flow
            while not (server.bytes_sent and fs.exists(lease)):  # type: ignore[attr-defined]
                time.sleep(0.05)
            fs.pipe_file(lease, b'{"owner": "another node"}')  # type: ignore[attr-defined]

        stolen = threading.Thread(target=steal)
        stolen.start()
        with pytest.raises(LeaseLost):
            dl.download("m", "v1", download_url=server.url("/m.bin"))
        stolen.join()
        assert dl.list_models() == []
    assert not [o for o in _objects(s3, f"{bucket}/s/models") if o.endswith("install.json")]
    assert fs.cat_file(lease) == b'{"owner": "another node"}', "the new holder's lease stays"  # type: ignore[attr-defined]


def test_denied_access_is_a_one_line_store_unavailable() -> None:
    """S3's AccessDenied (PermissionError in s3fs) becomes StoreUnavailable naming the store."""
    from model_fetch.storage._objects import check_bucket  # noqa: PLC0415

    class DeniedS3:
        """What s3fs does for a key pair without s3:ListBucket on the prefix."""

        def split_path(self, path: str) -> tuple[str, str, None]:
            bucket, _, key = path.partition("/")
            return bucket, key, None

        def call_s3(self, *_args: object, **_kwargs: object) -> None:
            raise PermissionError("Access Denied")

    with pytest.raises(
        StoreUnavailable, match=r"^The store s3://b/p is unavailable: access denied"
    ):
        check_bucket(DeniedS3(), "b/p", "s3://b/p")
