"""The two Hub API calls a plan needs, over the downloader's own HTTP client.

``GET {endpoint}/api/models/{repo}/revision/{rev}`` resolves a revision to its commit, and
``GET {endpoint}/api/models/{repo}/tree/{commit}?recursive=true`` lists the files (paginated with
``Link: <...>; rel="next"``), exactly the requests huggingface_hub's ``HfApi.model_info`` and
``list_repo_tree`` send. Importing huggingface_hub for them cost about 0.9 s per process, more
than a small download takes; the downloader's client (proxies, CA bundle, safe redirects) is
already loaded for the files. Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``,
``RevisionNotFound``, ``GatedRepo``), read here as huggingface_hub reads it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

import attrs

from model_fetch.exceptions import DownloadFailed

if TYPE_CHECKING:
    from model_fetch.transfer import HttpClient

__all__ = ["HubError", "HubTree", "hub_tree", "valid_repo_id"]

_REPO_ID: Final = re.compile(r"(\b[\w\-.]+\b/)?\b[\w\-.]+\b")
_MAX_REPO_ID: Final = 96
_NEXT: Final = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
#: The one 401 message of the Hub that means a bad token rather than "no such repo".
_BAD_TOKEN: Final = "Invalid credentials in Authorization header"  # noqa: S105 - a message
_OK: Final = 200
#: The largest API document read (a page of a file list is a few hundred KB).
MAX_DOCUMENT: Final = 64 * 1024 * 1024
_UNAUTHORIZED: Final = 401


class HubError(Exception):
    """The Hub refused a request: its status, ``X-Error-Code`` and message."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        """Keep the facts of the refusal."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def repo_not_found(self) -> bool:
        """No such repository, or one this token may not see (the Hub says 401 for both)."""
        if self.code == "RepoNotFound":
            return True
        return self.status == _UNAUTHORIZED and self.code is None and self.message != _BAD_TOKEN


@attrs.frozen(kw_only=True)
class HubTree:
    """A repository at a commit: the commit, whether it is gated, and its file entries."""

    commit: str
    gated: bool
    files: tuple[dict[str, Any], ...]


def valid_repo_id(repo_id: str) -> bool:
    """Whether ``repo_id`` is a Hub repo id (``name`` or ``org/name``), huggingface_hub's rule."""
    return (
        bool(_REPO_ID.fullmatch(repo_id))
        and "--" not in repo_id
        and ".." not in repo_id
        and not repo_id.endswith(".git")
        and len(repo_id) <= _MAX_REPO_ID
    )


def hub_tree(
    http: HttpClient,
    endpoint: str,
    repo_id: str,
    revision: str | None,
    *,
    token: str | None,
    timeout: float,
) -> HubTree:
    """Resolve ``revision`` (None: the default branch) and list every file at its commit.

    Raises:
        HubError: The Hub answered with an error status.
        DownloadFailed: The Hub cannot be reached or answered something that is not the API.
    """
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    base = f"{endpoint}/api/models/{repo_id}"
    info_url = base if revision is None else f"{base}/revision/{quote(revision, safe='')}"
    info, _ = _get_json(http, info_url, headers, timeout)
    commit = info.get("sha") if isinstance(info, dict) else None
    if not isinstance(commit, str) or not commit:
        raise DownloadFailed(f"The Hub gave no commit for {repo_id!r} at {revision or 'latest'!r}")
    files: list[dict[str, Any]] = []
    url: str | None = f"{base}/tree/{quote(commit, safe='')}?recursive=true&expand=false"
    while url is not None:
        page, link = _get_json(http, url, headers, timeout)
        if not isinstance(page, list):
            raise DownloadFailed(f"The Hub's file list of {repo_id!r} is not a list")
        files.extend(e for e in page if isinstance(e, dict) and e.get("type") == "file")
        found = _NEXT.search(link or "")
        url = found.group(1) if found else None
        if url is not None and _origin(url) != _origin(endpoint):
            # The token goes with every page: a next page elsewhere would carry it there.
            raise DownloadFailed(
                f"The Hub's file list of {repo_id!r} continues on another host; not followed"
            )
    return HubTree(commit=commit, gated=bool(info.get("gated")), files=tuple(files))


def _get_json(
    http: HttpClient, url: str, headers: dict[str, str], timeout: float
) -> tuple[Any, str | None]:
    """GET one API document; return it and the ``Link`` header."""
    import urllib3  # noqa: PLC0415 - loaded with the first request, so start-up stays light

    try:
        response = http.request("GET", url, headers=headers, timeout=timeout)
        try:
            body = response.read(MAX_DOCUMENT + 1)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise DownloadFailed(f"Could not reach the Hugging Face Hub at {url}: {exc}") from exc
    if len(body) > MAX_DOCUMENT:
        raise DownloadFailed(f"The Hub's answer to {url} is larger than {MAX_DOCUMENT} bytes")
    if response.status != _OK:
        code = response.headers.get("X-Error-Code")
        message = response.headers.get("X-Error-Message") or _error_text(body)
        raise HubError(response.status, code, message or f"HTTP {response.status}")
    try:
        return json.loads(body), response.headers.get("Link")
    except ValueError as exc:
        raise DownloadFailed(f"The Hub answered {url} with something that is not JSON") from exc


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL, case-folded, with the scheme's default port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port if port is not None else default


def _error_text(body: bytes) -> str:
    """The ``error`` of a Hub error body, if it has one."""
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    error = document.get("error") if isinstance(document, dict) else None
    return str(error) if error else ""
