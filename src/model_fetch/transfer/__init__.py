"""The transfer engine on urllib3 (http, https) and fsspec (every other URL).

What the rest of model_fetch uses: :class:`Transfer` (fetch one file, with retries, resume and
parallel ranges), :class:`HttpClient`, :class:`UrlPolicy`, the :class:`PartialFile` a store keeps
for a resumable download, and :func:`copy_object` with a :class:`RangeReader` (the fleet mirror's
parallel, hashing copy).
"""

from model_fetch.transfer._engine import MIN_BUFFER, STALL_MIN_BYTES, Transfer
from model_fetch.transfer._http import HttpClient
from model_fetch.transfer._outcome import FetchOutcome
from model_fetch.transfer._parallel import copy_object
from model_fetch.transfer._partial import PartialFile
from model_fetch.transfer._policy import UrlPolicy, is_public_address
from model_fetch.transfer._ranges import RangeFailed
from model_fetch.transfer._reader import (
    FsspecRangeReader,
    HttpRangeReader,
    RangeReader,
    RangeStream,
)

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
