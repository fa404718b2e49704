"""The transfer engine on urllib3 (http, https) and fsspec (every other URL)."""

from model_fetch.transfer._engine import MIN_BUFFER, STALL_MIN_BYTES, FetchOutcome, Transfer
from model_fetch.transfer._http import HttpClient
from model_fetch.transfer._policy import UrlPolicy, is_public_address
from model_fetch.transfer._resume import PartialFile

__all__ = [
    "MIN_BUFFER",
    "STALL_MIN_BYTES",
    "FetchOutcome",
    "HttpClient",
    "PartialFile",
    "Transfer",
    "UrlPolicy",
    "is_public_address",
]
