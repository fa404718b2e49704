"""schemathesis against /openapi.json: no 5xx, no undocumented status code, bodies as documented.

The API runs over a store, an empty repository index, an empty local registry, an empty test hub
and a file server on 127.0.0.1. Schema-valid (positive) requests have their download URL pointed
at that file server, their checksum dropped (a random valid digest would rightly fail with 500)
and a required signature dropped (no file the server holds is signed, so that too would rightly
fail with 500), so nothing generated can reach beyond 127.0.0.1; every other field is as
generated.
(schemathesis builds its tests at import, so the app is built at import too.)
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from model_fetch import Downloader
from model_fetch.http import ServerSettings, create_app
from model_fetch.transfer import UrlPolicy
from support.hfhub import TestHub
from support.server import FileServer

ROOT = Path(tempfile.mkdtemp(prefix="mf-schemathesis-"))
(ROOT / "index.json").write_text(json.dumps({"format": 1, "models": {}}))
(ROOT / "registry").mkdir()
HUB = TestHub().start()
FILES = FileServer().start()
FILES.add_file("/model.bin", b"generated requests download this" * 100)
FILE_URL = FILES.url("/model.bin")
DOWNLOADER = Downloader(
    store=ROOT / "store",
    repository=ROOT / "index.json",
    local_registry=ROOT / "registry",
)
APP = create_app(
    DOWNLOADER,
    ServerSettings(
        allowed_hosts=("testserver", "localhost"),
        url_policy=UrlPolicy(allow_private=True, allowlist=(FILES.url("/"),)),
        default_wait=0.5,
    ),
)
SOURCES = ("default", "huggingface", "local", "url")


@atexit.register
def _cleanup() -> None:
    DOWNLOADER.close()
    HUB.close()
    FILES.close()
    shutil.rmtree(ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _empty_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", HUB.endpoint)


# The all-jobs event stream never ends by design, and the ASGI transport reads a whole body
# before it answers: it is tested against a real server in test_sse.py instead.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(
    path="/model-download/events", method="GET"
)


@schema.hook("map_case")
def _keep_positive_downloads_local(_: object, case: schemathesis.Case) -> schemathesis.Case:
    positive = case.meta is None or not case.meta.generation.mode.is_negative
    if not positive or case.operation.path != "/model-download" or not isinstance(case.body, dict):
        return case
    body = dict(case.body)
    body["source"] = SOURCES[len(str(body.get("model_name", ""))) % len(SOURCES)]
    if body.get("download_url") is not None or body["source"] == "url":
        body["download_url"] = FILE_URL
    body.pop("checksum", None)
    options = body.get("options")
    if isinstance(options, dict) and options.get("signature") == "required":
        body["options"] = {key: value for key, value in options.items() if key != "signature"}
    case.body = body
    return case


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case) -> None:
    """Every operation answers only documented status codes and shapes, and never a 5xx."""
    case.call_and_validate(headers={"host": "testserver"})


def test_fuzzed_installs_are_only_the_local_file() -> None:
    """Everything generated requests installed came from the local file server."""
    for model in DOWNLOADER.list_models():
        assert DOWNLOADER.info(model.name, model.version).download_url == FILE_URL
