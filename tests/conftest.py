"""Shared fixtures: a fault-injecting HTTP server on 127.0.0.1, stores, and a fake clock."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

# huggingface_hub reads its environment once, at import: make that first import a clean one.
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
import huggingface_hub  # noqa: F401

from model_fetch import Downloader
from support.helpers import FakeClock
from support.s3 import MotoServer, apply_env
from support.server import FileServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# No wall-clock limits on examples: a newcomer's first run happens on a busy laptop, where
# Hypothesis' default 200 ms deadline and its too-slow health check fail correct code.
settings.register_profile(
    "model_fetch", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("model_fetch")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test away from the user's real store, netrc and proxies."""
    for name in list(os.environ):
        if name.upper() in {
            "MODEL_FETCH_HOME",
            "MODEL_FETCH_OFFLINE",
            "HF_HUB_OFFLINE",
            "MODEL_FETCH_MAX_STORE_SIZE",
            "MODEL_FETCH_LOCK_TIMEOUT",
            "MODEL_FETCH_REPOSITORY",
            "MODEL_FETCH_STAGING",
            "MODEL_FETCH_LEASE_TTL",
            "MODEL_FETCH_MIRROR",
            "MODEL_FETCH_LOCAL_REGISTRY",
            "MODEL_FETCH_SIGNATURE",
            "MODEL_FETCH_SIGNING_CONFIG",
            "MODEL_FETCH_SIGNING_KEY",
            "HF_ENDPOINT",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer().start() as srv:
        yield srv


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    """A file server shared by a module's tests (each test serves its own paths)."""
    with FileServer().start() as srv:
        yield srv


@pytest.fixture
def s3(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's moto server (root conftest.py), with this process's AWS env pointing at it."""
    apply_env(monkeypatch, moto)
    return moto


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def downloader(store: Path, clock: FakeClock) -> Iterator[Downloader]:
    with Downloader(store=store, clock=clock) as dl:
        yield dl
