"""Debian's Chromium driven by Playwright, kept on 127.0.0.1, with its errors collected.

Playwright's own browser download (``playwright install``) is never used: the tests launch the
system's ``/usr/bin/chromium`` (``apt-get install chromium``). A missing browser fails the tests
with the command to run; ``MODEL_FETCH_SKIP_BROWSER=1`` is the one, explicit way to skip them,
and it is refused under CI (``CI`` set), where a missing browser is always a failure.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Route

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "INSTALL_COMMAND",
    "PageWatch",
    "find_chromium",
    "launch",
]

CHROMIUM = "/usr/bin/chromium"
INSTALL_COMMAND = "apt-get update && apt-get install -y --no-install-recommends chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Names never resolve, so nothing can leave the machine even if a route slipped through.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = frozenset({"127.0.0.1"})
# Chromium logs every 4xx answer as a console error; the console handles those itself.
_HTTP_ERROR_LINE = "Failed to load resource: the server responded with a status of 4"


def find_chromium() -> str | None:
    """The Chromium the tests drive: ``$MODEL_FETCH_CHROMIUM``, /usr/bin/chromium, or None."""
    configured = os.environ.get("MODEL_FETCH_CHROMIUM")
    if configured:
        return configured
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def launch(playwright: Any) -> Browser:
    """Launch the system Chromium, or fail (never skip silently) with the command to run."""
    if os.environ.get("MODEL_FETCH_SKIP_BROWSER") == "1":
        if os.environ.get("CI"):
            pytest.fail("MODEL_FETCH_SKIP_BROWSER is not honoured under CI: install Chromium")
        pytest.skip("MODEL_FETCH_SKIP_BROWSER=1: browser tests skipped on request")
    executable = find_chromium()
    if executable is None:
        pytest.fail(
            f"Chromium is not installed; the browser tests need it. Run: {INSTALL_COMMAND} "
            "(or set MODEL_FETCH_SKIP_BROWSER=1 to skip them knowingly)",
        )
    browser: Browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    return browser


def is_local(url: str) -> bool:
    """Whether a request stays on this machine (data: and blob: URLs never leave it)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return parts.hostname in LOCAL_HOSTS


class PageWatch:
    """Records what must not happen in a browser context: foreign requests and page errors."""

    def __init__(self, context: BrowserContext) -> None:
        """Watch every page of ``context``; requests to other hosts are aborted and recorded."""
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.ignored_errors: tuple[str, ...] = (_HTTP_ERROR_LINE,)
        context.route(lambda url: not is_local(url), self._block)
        context.on("request", self._on_request)
        context.on("page", self._watch_page)

    def _block(self, route: Route) -> None:
        route.abort()

    def _on_request(self, request: Any) -> None:
        if not is_local(request.url):
            self.foreign.append(request.url)

    def _watch_page(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if any(message.text.startswith(prefix) for prefix in self.ignored_errors):
            return
        self.errors.append(f"console.error: {message.text}")

    def check(self) -> None:
        """Fail with whatever was recorded."""
        assert self.foreign == [], f"requests left 127.0.0.1: {self.foreign}"
        assert self.errors == [], self.errors
