"""The console applies a typed token before any request, not 400 ms after the last keystroke."""

from __future__ import annotations

import re
from pathlib import Path

import model_fetch.http

APP_JS = (Path(model_fetch.http.__file__).parent / "console" / "app.js").read_text()


def _function(name: str) -> str:
    match = re.search(rf"\nfunction {name}\(.*?\n}}\n", APP_JS, re.DOTALL)
    assert match, name
    return match.group(0)


def test_every_request_reads_the_token_field_first() -> None:
    """A token pasted and used at once is sent: the request headers apply the field's value."""
    headers = _function("authHeaders")
    assert headers.index("syncToken()") < headers.index("Authorization")
    assert "setToken(field.value)" in _function("syncToken")
    assert APP_JS.count("authHeaders(") >= 3, "api() and the event stream both build them"


def test_the_field_applies_on_change_and_blur_without_a_timer() -> None:
    """No debounce timer decides when the token counts; change, blur and submit apply it."""
    assert "tokenTimer" not in APP_JS
    assert '$("token").addEventListener("change"' in APP_JS
    assert '$("token").addEventListener("blur"' in APP_JS
