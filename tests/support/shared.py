"""Two versions of a Hub model that share 9 of their 10 files (tests of sharing across stores)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.helpers import payload
from support.hfhub import HubFile

if TYPE_CHECKING:
    from support.hfhub import TestHub

REPO = "acme/ten-files"
V1 = [
    *(
        HubFile(path=f"shard-{i}.safetensors", data=payload(60_000, seed=40 + i), lfs=True)
        for i in range(5)
    ),
    *(HubFile(path=f"config-{i}.json", data=f'{{"layer": {i}}}'.encode()) for i in range(5)),
]
#: The one file of v2 that v1 does not hold (it replaces v1's shard-4).
NEW = HubFile(path="shard-4.safetensors", data=payload(70_000, seed=99), lfs=True)
V2 = [*V1[:4], NEW, *V1[5:]]
#: The nine files both versions hold.
SHARED = [file for file in V2 if file is not NEW]


def fetched(hub: TestHub, since: int) -> list[str]:
    """The files whose bytes were asked of the origin since request number ``since``."""
    return sorted(r.path.rsplit("/", 1)[-1] for r in hub.requests[since:] if "/resolve/" in r.path)
