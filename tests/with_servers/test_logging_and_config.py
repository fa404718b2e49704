"""Secrets never reach logs or errors; configuration precedence is argument > env > default."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model_fetch import Downloader, DownloadFailed, InvalidRequest
from model_fetch._config import Settings
from model_fetch._log import redact, redact_url
from support.helpers import payload
from support.server import Fault, FileServer

DATA = payload(20_000)


def test_secrets_are_redacted_from_logs_and_errors(
    downloader: Downloader, server: FileServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Passwords in URLs and signed query strings appear in no log line and no error message."""
    server.add_file("/m.bin", DATA)
    server.queue("/m.bin", Fault(status=503), Fault(status=503))
    url = f"http://user:topsecret@127.0.0.1:{server.port}/m.bin?X-Amz-Signature=abcdef123&token=tok"
    caplog.set_level(logging.DEBUG, logger="model_fetch")
    with pytest.raises(DownloadFailed) as caught:
        downloader.download("m", "v1", download_url=url, options={"retry_count": 1})
    text = str(caught.value) + caught.value.url + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the retry was logged"
    for secret in ("topsecret", "abcdef123", "tok"):
        assert secret not in text


def test_redaction_rules() -> None:
    """Bearer tokens, hf_ tokens, userinfo and query strings are masked."""
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert "hf_abcdefghijkl" not in redact("token hf_abcdefghijkl")
    assert redact_url("https://u:p@h/x?sig=1") == "https://***@h/x?***"
    assert redact_url("https://h/x") == "https://h/x"


def test_argument_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit argument wins over the environment, which wins over the default."""
    monkeypatch.setenv("MODEL_FETCH_HOME", str(tmp_path / "env"))
    monkeypatch.setenv("MODEL_FETCH_LOCK_TIMEOUT", "12")
    monkeypatch.setenv("MODEL_FETCH_OFFLINE", "1")
    from_env = Settings.load()
    assert from_env.home == str(tmp_path / "env")
    assert from_env.lock_timeout == 12.0
    assert from_env.offline
    assert from_env.offline_variable == "MODEL_FETCH_OFFLINE"
    explicit = Settings.load(home=tmp_path / "arg", lock_timeout=3, offline=False)
    assert explicit.home == str(tmp_path / "arg")
    assert explicit.lock_timeout == 3
    assert not explicit.offline
    monkeypatch.delenv("MODEL_FETCH_LOCK_TIMEOUT")
    assert Settings.load().lock_timeout == 3600.0


def test_configuration_is_read_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changing the environment after import takes effect for the next Downloader."""
    monkeypatch.setenv("MODEL_FETCH_HOME", str(tmp_path / "one"))
    with Downloader() as first:
        pass
    monkeypatch.setenv("MODEL_FETCH_HOME", str(tmp_path / "two"))
    with Downloader() as second:
        pass
    assert first.store.url != second.store.url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODEL_FETCH_OFFLINE", "maybe"),
        ("MODEL_FETCH_LOCK_TIMEOUT", "soon"),
        ("MODEL_FETCH_MAX_STORE_SIZE", "lots"),
    ],
)
def test_bad_environment_values_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A malformed environment variable is an InvalidRequest naming the variable or value."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(
        InvalidRequest, match=variable if variable != "MODEL_FETCH_MAX_STORE_SIZE" else value
    ):
        Settings.load()
