"""A real ``model-fetch serve`` subprocess on 127.0.0.1 and a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["START_TIMEOUT", "STOP_TIMEOUT", "RestServer", "free_port", "start_rest"]

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class RestServer:
    """A ``model-fetch serve`` subprocess on 127.0.0.1 and a free port."""

    def __init__(
        self, store: Path, log: Path, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        """Start the process (output to ``log``); call :meth:`wait_ready` next."""
        self.log_path = log
        self._log = log.open("wb")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "model_fetch",
            "--store",
            str(store),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--allow-private-urls",
            "--wait",
            "0.5",
            *extra,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
        )

    def wait_ready(self) -> None:
        """Poll /health until it answers 200; fail with the server's log if it never does."""
        deadline = time.monotonic() + START_TIMEOUT
        with requests.Session() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if session.get(self.url + "/health", timeout=1).status_code == 200:
                        return
                except requests.ConnectionError:
                    pass
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"model-fetch serve did not come up:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGINT, then kill after STOP_TIMEOUT seconds; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_rest(
    log_dir: Path, store: Path, name: str, *extra: str, env: dict[str, str] | None = None
) -> RestServer:
    """Start a server and wait until it answers; its output goes to ``log_dir/name.log``."""
    rest = RestServer(store, log_dir / f"{name}.log", *extra, env=env)
    try:
        rest.wait_ready()
    except BaseException:
        rest.stop()
        raise
    return rest
