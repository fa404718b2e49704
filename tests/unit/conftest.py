"""Unit tests open no socket at all, not even on loopback.

A test that needs a server lives in tests/with_servers/.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled: None) -> None:
    """Make any socket a unit test opens an error (pytest-socket)."""
