"""The transfer engine on urllib3 (http, https) and fsspec (every other URL).

What the rest of model_fetch uses: :class:`Transfer` (fetch one file, with retries, resume and
parallel ranges), :class:`HttpClient`, :class:`UrlPolicy`, the :class:`PartialFile` a store keeps
for a resumable download, and :func:`copy_object` with a :class:`RangeReader` (the fleet mirror's
parallel, hashing copy).

The names load on first use, so a run that never sends a request (``--help``, a cache hit)
never imports urllib3.
"""

import importlib
import typing

if typing.TYPE_CHECKING:
    from model_fetch.transfer._engine import MIN_BUFFER, STALL_MIN_BYTES, Transfer
    from model_fetch.transfer._http import HttpClient
    from model_fetch.transfer._http_reader import HttpRangeReader
    from model_fetch.transfer._outcome import FetchOutcome
    from model_fetch.transfer._parallel import copy_object
    from model_fetch.transfer._partial import PartialFile
    from model_fetch.transfer._policy import UrlPolicy, is_public_address
    from model_fetch.transfer._ranges import RangeFailed
    from model_fetch.transfer._reader import FsspecRangeReader, RangeReader, RangeStream

_LAZY: dict[str, str] = {
    "MIN_BUFFER": "_engine",
    "STALL_MIN_BYTES": "_engine",
    "Transfer": "_engine",
    "HttpClient": "_http",
    "FetchOutcome": "_outcome",
    "copy_object": "_parallel",
    "PartialFile": "_partial",
    "UrlPolicy": "_policy",
    "is_public_address": "_policy",
    "RangeFailed": "_ranges",
    "FsspecRangeReader": "_reader",
    "HttpRangeReader": "_http_reader",
    "RangeReader": "_reader",
    "RangeStream": "_reader",
}

__all__ = [
    "MIN_BUFFER",
    "STALL_MIN_BYTES",
    "FetchOutcome",
    "FsspecRangeReader",
    "HttpClient",
    "HttpRangeReader",
    "PartialFile",
    "RangeFailed",
    "RangeReader",
    "RangeStream",
    "Transfer",
    "UrlPolicy",
    "copy_object",
    "is_public_address",
]


def __getattr__(name: str) -> object:
    """Import an exported name's module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
