"""kill -9 at every commit step: the store shows the old install or the new one, never a part.

Each scenario is first run to the end with every step recorded (see :mod:`support.kill9`); then,
for each step N, a fresh child runs it again and dies by SIGKILL just before step N. The store it
leaves is then checked here, in another process: what is listed, what huggingface_hub reads
offline, the version the killed operation did not touch, a rerun, ``cache-prune``, and the blobs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from model_fetch import Downloader
from support.helpers import payload
from support.hfhub import HubFile, TestHub
from support.kill9 import KillServer

REPO = "acme/kill9"
CONFIG = HubFile(path="config.json", data=b'{"layers": 2}')
V1 = (
    CONFIG,
    HubFile(path="sub/vocab.txt", data=b"a\nb\n"),
    HubFile(path="weights.dat", data=payload(20_000, seed=3), lfs=True),
)
#: v2 keeps the config (a regular file) and the weights (an LFS file) and changes the vocabulary.
V2 = (CONFIG, HubFile(path="sub/vocab.txt", data=b"a\nb\nc\n"), V1[2])
#: Names a completed or killed commit must not leave behind once rerun and pruned.
LEFTOVER = re.compile(r"(\.tmp|\.link|\.part)$|^\.links-|^stage-|^removing\.json$")


@attrs.frozen
class Hub:
    """The module's hub with the two commits of :data:`REPO`."""

    server: TestHub
    v1: str
    v2: str

    def files(self, version: str) -> dict[str, bytes]:
        """The files of one commit."""
        chosen = V1 if version == self.v1 else V2
        return {file.path: file.data for file in chosen}


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with TestHub().start() as server:
        v1 = server.add_repo(REPO, list(V1))
        v2 = server.add_commit(REPO, list(V2), ref="main")
        yield Hub(server, v1, v2)


@pytest.fixture(scope="module")
def forks(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KillServer]:
    """One fork server for the module, its hub and home directories set as the tests set them."""
    home = tmp_path_factory.mktemp("kill9-home")
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.server.endpoint,
        "HF_HOME": str(home / "hf-home"),
        "XDG_CACHE_HOME": str(home / "xdg"),
        "NETRC": str(home / "no-netrc"),
    }
    for name in ("MODEL_FETCH_HOME", "HF_HUB_OFFLINE", "HF_TOKEN", "MODEL_FETCH_STAGING"):
        env.pop(name, None)
    # The server downloads and removes both versions once, so its children start warm.
    warmup = [("download", REPO, hub.v1), ("download", REPO, "main"), ("remove", REPO, hub.v1)]
    with KillServer(env, home, warmup) as server:
        yield server


@pytest.fixture(autouse=True)
def _endpoint(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.server.endpoint)


@attrs.frozen
class Scenario:
    """Operations run to the end, then one that is killed; what its record step is."""

    layout: str
    setup: tuple[tuple[str, str], ...]
    killed: tuple[str, str]

    def ops(self, hub: Hub) -> list[tuple[str, str, str]]:
        """The child's operations, commits named."""
        return [(kind, REPO, _version(hub, ref)) for kind, ref in (*self.setup, self.killed)]

    def store(self, root: Path) -> str:
        """The store argument for a root directory."""
        return str(root) if self.layout == "own" else f"hf-cache:{root}"


def _version(hub: Hub, ref: str) -> str:
    """What the child asks for: a commit, or the branch itself (so that a ref gets written)."""
    return {"v1": hub.v1, "v2": hub.v2}.get(ref, ref)


def _commit(hub: Hub, ref: str) -> str:
    """The commit a scenario's version is."""
    return hub.v1 if ref == "v1" else hub.v2


SCENARIOS = {
    f"{layout}-{name}": Scenario(layout=layout, setup=setup, killed=killed)
    for layout in ("own", "hf")
    for name, setup, killed in (
        ("install", (), ("download", "v1")),
        # v2 asked for by branch: the ref written after the commit is a step too.
        ("v2-sharing-v1", (("download", "v1"),), ("download", "main")),
        ("remove-v1-shared", (("download", "v1"), ("download", "main")), ("remove", "v1")),
    )
}


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_kill9_at_every_step(
    scenario: Scenario, hub: Hub, forks: KillServer, tmp_path: Path
) -> None:
    """SIGKILL before any step: old or new install, never a part; rerun and prune leave it clean."""
    ops = scenario.ops(hub)
    count = forks.run(scenario.store(tmp_path / "count"), ops, kill_at=0)
    assert count.error is None, count.error
    steps = count.steps
    assert len([s for s in steps if _is_record_step(s, scenario.killed[0])]) == 1, steps
    roots = [tmp_path / f"kill-{n:02d}" for n in range(1, len(steps) + 1)]
    kills = forks.run_many([(scenario.store(root), ops, n) for n, root in enumerate(roots, 1)])
    for n, (root, attempt) in enumerate(zip(roots, kills, strict=True), 1):
        assert attempt.killed, attempt.error
        # Directory order may differ between runs: the same number of steps, not the same list.
        assert len(attempt.steps) == n - 1
        context = f"killed before step {n}/{len(steps)}: {attempt.killed_before}"
        done = any(_is_record_step(s, scenario.killed[0]) for s in attempt.steps)
        check_after_kill(scenario, hub, root, done=done, context=context)
    if scenario.layout == "hf":
        check_offline_reads(hub, [tmp_path / "count", *roots])
    # The same operation again, then cache-prune, each rerun in a fresh process.
    kind, name, version = ops[-1]
    rerun = [("remove?" if kind == "remove" else kind, name, version), ("prune", "", "")]
    reruns = forks.run_many([(scenario.store(root), rerun, 0) for root in roots])
    for root, attempt in zip(roots, reruns, strict=True):
        context = f"rerun after {root.name}"
        assert attempt.error is None, (context, attempt.error)
        check_rerun(scenario, hub, root, context=context)


def _is_record_step(step: str, kind: str) -> bool:
    """Whether a step makes the operation visible: the record's rename (or its removal)."""
    if kind == "download":
        return re.fullmatch(r"replace \S+\.tmp \S+/install\.json", step) is not None
    pattern = r"(remove|unlink) \S+/install\.json|replace \S+/install\.json \S+/removing\.json"
    return re.fullmatch(pattern, step) is not None


def check_after_kill(scenario: Scenario, hub: Hub, root: Path, *, done: bool, context: str) -> None:
    """What a fresh process sees: only recorded installs, complete; the untouched version intact."""
    kind, ref = scenario.killed
    target = _commit(hub, ref)
    with Downloader(store=scenario.store(root)) as downloader:
        listed = {m.version for m in downloader.list_models() if m.name == REPO}
        recorded = {v for v in (hub.v1, hub.v2) if _has_record(downloader, v)}
        assert listed == recorded, context
        assert (target in listed) == (done if kind == "download" else not done), context
        for version in listed:
            check_intact(downloader, hub, version, context)
        untouched = {hub.v1, hub.v2} & {_commit(hub, r) for _kind, r in scenario.setup}
        untouched.discard(target)
        for version in untouched:
            assert version in listed, context
    if scenario.layout == "own":
        check_blobs(root, context, after_prune=False)


def _has_record(downloader: Downloader, version: str) -> bool:
    return os.path.exists(downloader.store.record_path(REPO, version))


def check_intact(downloader: Downloader, hub: Hub, version: str, context: str) -> None:
    """Every file of an installed version complete, its sha256 the record's and the origin's."""
    verdict = downloader.verify(REPO, version)
    assert verdict.ok, (context, verdict)
    info = downloader.info(REPO, version)
    expected = hub.files(version)
    seen = {}
    for path in Path(info.directory).rglob("*"):
        if path.is_file():
            seen[path.relative_to(info.directory).as_posix()] = path.read_bytes()
    assert seen == expected, context
    record = downloader.store.read_record(REPO, version)
    assert record is not None
    for file in record.files:
        assert file.sha256 == hashlib.sha256(expected[file.path]).hexdigest(), context


def check_rerun(scenario: Scenario, hub: Hub, root: Path, *, context: str) -> None:
    """After the operation ran again and cache-prune: its outcome, and no temporary entry left."""
    kind, ref = scenario.killed
    target = _commit(hub, ref)
    with Downloader(store=scenario.store(root)) as downloader:
        listed = {m.version for m in downloader.list_models() if m.name == REPO}
        wanted = {_commit(hub, r) for _kind, r in scenario.setup}
        wanted = wanted | {target} if kind == "download" else wanted - {target}
        assert listed == wanted, context
        for version in listed:
            check_intact(downloader, hub, version, context)
    leftovers = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if LEFTOVER.search(path.name) or path.parent.name in {".staging", "staging"}
    ]
    assert leftovers == [], context
    if scenario.layout == "own":
        check_blobs(root, context, after_prune=True)
    else:
        check_hf_blobs(root, context)


def check_blobs(root: Path, context: str, *, after_prune: bool) -> None:
    """A blob is never freed while a recorded file uses it; after a prune, none is unused."""
    with Downloader(store=str(root)) as downloader:
        records = list(downloader.store.iter_records())
        for record in records:
            for file in record.files:
                installed = Path(downloader.store.installed_path(record, file.path))
                blob = root / "blobs" / "sha256" / file.sha256
                assert blob.exists(), (context, file)
                assert os.path.samefile(blob, installed), (context, file)
    if not after_prune:
        return
    blobs: dict[tuple[int, int], list[Path]] = {}
    for path in (root / "blobs").rglob("*") if (root / "blobs").exists() else ():
        if path.is_file():
            info = path.stat()
            blobs.setdefault((info.st_dev, info.st_ino), []).append(path)
    for entries in blobs.values():
        # Links outside blobs/ are installed files: a blob with none is used by nobody.
        assert entries[0].stat().st_nlink > len(entries), (context, "unused blob", entries)
    generations = {
        path.relative_to(root / "models").as_posix() for path in (root / "models").glob("*/*/g-*")
    }
    wanted = {
        downloader.store.generation_dir(record).removeprefix(str(root / "models") + "/")
        for record in records
    }
    assert generations == wanted, context


def check_hf_blobs(root: Path, context: str) -> None:
    """Every snapshot link resolves and every blob is linked from a snapshot (none leaked)."""
    repo = root / "models--acme--kill9"
    linked = set()
    for path in (repo / "snapshots").rglob("*") if (repo / "snapshots").exists() else ():
        if path.is_symlink():
            assert path.exists(), (context, path)
            linked.add(path.resolve())
    for blob in (repo / "blobs").iterdir() if (repo / "blobs").exists() else ():
        assert blob.resolve() in linked, (context, "unused blob", blob.name)


#: Reads every file of both commits from each cache, offline, as transformers would.
OFFLINE = """
import json, sys
from huggingface_hub import hf_hub_download, scan_cache_dir
from huggingface_hub.errors import LocalEntryNotFoundError
caches, wanted = json.loads(sys.stdin.read())
out = {}
for cache in caches:
    seen = out[cache] = {"files": {}, "warnings": []}
    for revision, files in wanted.items():
        for name in files:
            try:
                path = hf_hub_download(
                    "acme/kill9", name, revision=revision, cache_dir=cache, local_files_only=True
                )
            except LocalEntryNotFoundError:
                seen["files"][revision + ":" + name] = None
            else:
                seen["files"][revision + ":" + name] = open(path, "rb").read().hex()
    try:
        seen["warnings"] = [str(w) for w in scan_cache_dir(cache).warnings]
    except Exception as exc:
        seen["warnings"] = [repr(exc)]
print(json.dumps(out))
"""


def check_offline_reads(hub: Hub, caches: list[Path]) -> None:
    """huggingface_hub offline finds a complete, correct file or raises its not-found error."""
    wanted = {hub.v1: sorted(hub.files(hub.v1)), hub.v2: sorted(hub.files(hub.v2))}
    wanted["main"] = sorted(hub.files(hub.v2))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(caches[0])}
    env.pop("HF_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE],
        input=json.dumps([[str(c) for c in caches], wanted]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    results = json.loads(done.stdout)
    for cache in caches:
        found = results[str(cache)]
        assert found["warnings"] == [], (cache.name, found["warnings"])
        for key, data in found["files"].items():
            revision, name = key.split(":", 1)
            if data is not None:
                commit = hub.v2 if revision == "main" else revision
                assert bytes.fromhex(data) == hub.files(commit)[name], (cache.name, key)


def test_cache_prune_spares_a_version_whose_lock_is_held(hub: Hub, tmp_path: Path) -> None:
    """cache-prune removes a generation no record names once nobody holds the version lock."""
    root = tmp_path / "store"
    with Downloader(store=str(root)) as downloader:
        downloader.download(REPO, hub.v1, source="huggingface")
        record = downloader.store.read_record(REPO, hub.v1)
        assert record is not None
        version_dir = Path(downloader.store.version_dir(REPO, hub.v1))
        # What a commit holding the lock has between its rename and its record.
        pending = version_dir / "g-0123456789abcdef"
        pending.mkdir()
        (pending / "weights.dat").write_bytes(V1[2].data)
        unused = root / "blobs" / "sha256" / ("0" * 64)
        unused.write_bytes(b"no installed file links here")
        lock = downloader.store.lock(REPO, hub.v1)
        assert lock.try_acquire()
        try:
            with Downloader(store=str(root)) as other:
                assert other.prune_objects()["orphaned_generations"] == 0
            assert pending.is_dir()
        finally:
            lock.release()
        with Downloader(store=str(root)) as other:
            assert other.prune_objects()["orphaned_generations"] == 1
        assert not pending.exists()
        assert not unused.exists()
        check_intact(downloader, hub, hub.v1, "after prune")
    check_blobs(root, "after prune", after_prune=True)
