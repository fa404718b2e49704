"""A Hugging Face Hub-compatible test server with a separate LFS "CDN" origin.

Built on :mod:`http.server` only.  Two ``ThreadingHTTPServer`` instances bind
``127.0.0.1`` on ephemeral ports:

* the **hub** (use :attr:`TestHub.endpoint` as ``HF_ENDPOINT``) serves the JSON
  API (``/api/models/{repo}[/revision/{rev}]``, ``/tree/{rev}[/{path}]``
  paginated with ``Link: <...>; rel="next"``, ``/refs``) and
  ``/{repo}/resolve/{rev}/{path}`` for HEAD and GET (single ``Range``s, 206);
  errors carry the ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``, ``GatedRepo``) huggingface_hub maps to its exceptions;
* the **CDN** serves LFS blobs.  The hub answers ``resolve`` for an LFS file
  with a 302 to ``http://localhost:{cdn_port}/repos/{key}/{sha256}?...``.  The
  host name ``localhost`` (not ``127.0.0.1``) makes it another origin, so
  clients must not forward ``Authorization`` there, exactly as with the real
  Hub's signed CDN URLs.  The URL carries a ``Signature`` query parameter that
  the CDN checks (403 without it), so clients must keep the query string.
  Its ``ETag`` is the md5 of the content (like S3), not the sha256 the hub
  advertises, so an ``If-Range`` carrying the hub's ETag restarts from 0.
  With ``TestHub(cdn_base_url=...)`` the 302 goes to ``{cdn_base_url}/{sha256}``
  instead, a server of the caller's (the HF benchmark points it at nginx).

Revisions are commit shas, branch names, tags or full refs such as
``refs/pr/1``; huggingface_hub sends them URL-encoded (``refs%2Fpr%2F1``).
Repositories are content-addressed like git: regular files have the git blob
sha1 as ``oid``/``ETag``, LFS files the sha256 of their content (the git oid of
an LFS file is that of its pointer file), directories a git tree sha1, and
commits a sha1 computed from tree, parent and message.  Nothing ever carries an
``X-Xet-*`` header or ``xetHash`` field, so huggingface_hub stays on plain HTTP
(also set ``HF_HUB_DISABLE_XET=1`` in the client).

Typical use::

    with TestHub(token="hf_secret") as hub:
        sha = hub.add_repo("acme/tiny", [HubFile(path="config.json", data=b"{}")])
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1", ...}
        ...
        assert all("authorization" not in r.headers for r in hub.requests if r.origin == "cdn")
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import http.server
import json
import re
import secrets
import socket
import socketserver
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Self, cast

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from types import TracebackType

__all__ = [
    "CDN_LAST_MODIFIED",
    "DEFAULT_PAGE_SIZE",
    "HubFile",
    "Origin",
    "RecordedRequest",
    "TestHub",
    "git_blob_oid",
    "lfs_pointer",
]

#: Entries per page of ``/tree`` listings unless :class:`TestHub` is told otherwise.
DEFAULT_PAGE_SIZE = 2
#: ``Last-Modified`` of every CDN object (also accepted in ``If-Range``).
CDN_LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
#: Author/committer time of the first commit; each descendant is one second later.
_EPOCH = 1_700_000_000
#: How long :meth:`TestHub.close` waits for handler threads in total.
_JOIN_SECONDS = 5.0

_REPO_ID_RE = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_REF_NAME_RE = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)*")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_RANGE_RE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)
_XOR_TABLE = bytes(b ^ 0xFF for b in range(256))
_TRUE = frozenset({"1", "true", "True"})

Origin = Literal["hub", "cdn"]


# -- git-style hashing ----------------------------------------------------------


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores in place of an LFS file."""
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
        sha256.encode(),
        size,
    )


def _git_object_oid(kind: bytes, body: bytes) -> str:
    """The sha1 of a git object of ``kind`` with ``body``."""
    return hashlib.sha1(b"%s %d\0" % (kind, len(body)) + body, usedforsecurity=False).hexdigest()


def _git_sort_key(name: str, *, is_dir: bool) -> bytes:
    """Git orders tree entries by name, directories as if they ended in ``/``."""
    return (name + "/" if is_dir else name).encode()


def _iso(timestamp: int) -> str:
    """The Hub's date format (``2023-11-14T22:13:20.000Z``)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- public value objects ---------------------------------------------------------


def _valid_repo_path(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    """Reject paths git or the Hub would not accept."""
    parts = value.split("/")
    if not value or "\\" in value or "\0" in value or any(p in {"", ".", ".."} for p in parts):
        raise ValueError(f"invalid path in repo: {value!r}")


@attrs.frozen(kw_only=True)
class HubFile:
    """One file of a repository commit.

    LFS files are addressed by the sha256 of ``data`` (``ETag``/``X-Linked-Etag``,
    ``lfs.oid``) and downloaded from the CDN; regular files by their git blob
    sha1 and served by the hub itself.
    """

    #: Path inside the repo, ``/``-separated, e.g. ``"tokenizer/vocab.txt"``.
    path: str = attrs.field(validator=_valid_repo_path)
    #: The file content.
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    #: Store the file in git LFS (302 to the CDN) instead of in git.
    lfs: bool = False

    @property
    def size(self) -> int:
        """Length of :attr:`data`."""
        return len(self.data)

    @functools.cached_property
    def sha256(self) -> str:
        """Hex sha256 of :attr:`data`."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        """The LFS pointer file git stores for an LFS file (``b""`` for regular files)."""
        return lfs_pointer(self.sha256, self.size) if self.lfs else b""

    @functools.cached_property
    def git_oid(self) -> str:
        """The git blob sha1 of what git stores: the pointer for LFS, else the data."""
        return git_blob_oid(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        """Unquoted ETag served by ``resolve``: sha256 for LFS, git blob sha1 otherwise."""
        return self.sha256 if self.lfs else self.git_oid

    @functools.cached_property
    def md5(self) -> str:
        """Hex md5 of :attr:`data`: the CDN's (S3-style) ``ETag`` of an LFS file."""
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


@attrs.frozen
class RecordedRequest:
    """A request as seen by the hub or the CDN."""

    #: The request method, e.g. ``"HEAD"``.
    method: str
    #: Which server received it.
    origin: Origin
    #: The request target: path including the query string, as sent.
    path: str
    #: Request headers with lower-cased names (repeated headers joined by ", ").
    headers: dict[str, str]
    #: The status code the server answered with.
    status: int


# -- repository model -------------------------------------------------------------


@attrs.frozen
class _Commit:
    """An immutable commit: a full file tree plus git-style ids."""

    sha: str
    parent: str | None
    title: str
    timestamp: int
    files: Mapping[str, HubFile]
    #: Directory path (``""`` is the root) -> git tree sha1.
    trees: Mapping[str, str]
    #: Directory path -> child paths in git order.
    children: Mapping[str, tuple[str, ...]]

    def oid_of(self, path: str) -> str | None:
        """The git oid of a file or directory at ``path``, if it exists."""
        file = self.files.get(path)
        return file.git_oid if file is not None else self.trees.get(path)


@attrs.define
class _Repo:
    """A repository: commits by sha and refs (``refs/heads/main``...) to them."""

    repo_id: str
    private: bool
    gated: bool
    default_branch: str
    cdn_key: str
    commits: dict[str, _Commit] = attrs.field(factory=dict)
    refs: dict[str, str] = attrs.field(factory=dict)

    def resolve(self, revision: str) -> _Commit | None:
        """The commit a revision (commit sha, branch, tag or full ref) names."""
        commit = self.commits.get(revision)
        if commit is not None:
            return commit
        if revision.startswith("refs/"):
            candidates: tuple[str, ...] = (revision,)
        else:
            candidates = (f"refs/heads/{revision}", f"refs/tags/{revision}")
        for ref in candidates:
            if ref in self.refs:
                return self.commits[self.refs[ref]]
        return None


def _full_ref(ref: str) -> str:
    """Normalise a ref name: a bare name is a branch; ``refs/...`` is kept."""
    if _COMMIT_RE.fullmatch(ref):
        raise ValueError(f"a ref may not look like a commit sha: {ref!r}")
    if ref.startswith("refs/"):
        kind, _, name = ref[5:].partition("/")
        if kind == "pr" and name.isdigit():
            return ref
        named = kind in {"heads", "tags", "convert"}
        if named and _REF_NAME_RE.fullmatch(name) and ".." not in name:
            return ref
    elif _REF_NAME_RE.fullmatch(ref) and ".." not in ref:
        return f"refs/heads/{ref}"
    raise ValueError(f"invalid ref name: {ref!r}")


def _layout(
    files: Sequence[HubFile],
) -> tuple[dict[str, HubFile], set[str], dict[str, tuple[str, ...]]]:
    """Index ``files`` by path; return them, the directories and each directory's children."""
    by_path: dict[str, HubFile] = {}
    for file in files:
        if file.path in by_path:
            raise ValueError(f"duplicate path: {file.path!r}")
        by_path[file.path] = file
    dirs: set[str] = {""}
    for path in by_path:
        parts = path.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    if clash := dirs & by_path.keys():
        raise ValueError(f"paths used both as file and as directory: {sorted(clash)}")
    entries: dict[str, list[str]] = {d: [] for d in dirs}
    for path in (*by_path, *dirs):
        if path:
            entries[path.rpartition("/")[0]].append(path)

    def order(path: str) -> bytes:
        return _git_sort_key(path.rpartition("/")[2], is_dir=path in dirs)

    children = {d: tuple(sorted(kids, key=order)) for d, kids in entries.items()}
    return dict(sorted(by_path.items())), dirs, children


def _build_commit(files: Sequence[HubFile], *, parent: _Commit | None, title: str) -> _Commit:
    """Hash ``files`` into git trees and a commit object."""
    by_path, dirs, children = _layout(files)
    for file in by_path.values():
        if file.lfs:
            _ = file.md5  # hash now rather than inside a request (hashes are cached)
    trees: dict[str, str] = {}
    # Deepest directories first, so every subtree is hashed before its parent.
    for directory in sorted(dirs, key=lambda d: d.count("/") + bool(d), reverse=True):
        body = b""
        for child in children[directory]:
            name = child.rpartition("/")[2].encode()
            if child in dirs:
                body += b"40000 " + name + b"\0" + bytes.fromhex(trees[child])
            else:
                body += b"100644 " + name + b"\0" + bytes.fromhex(by_path[child].git_oid)
        trees[directory] = _git_object_oid(b"tree", body)
    timestamp = _EPOCH if parent is None else parent.timestamp + 1
    signature = f"TestHub <testhub@example.invalid> {timestamp} +0000"
    lines = [f"tree {trees['']}"]
    if parent is not None:
        lines.append(f"parent {parent.sha}")
    lines += [f"author {signature}", f"committer {signature}", "", title, ""]
    sha = _git_object_oid(b"commit", "\n".join(lines).encode())
    parent_sha = None if parent is None else parent.sha
    return _Commit(sha, parent_sha, title, timestamp, by_path, trees, children)


# -- HTTP responses ---------------------------------------------------------------


@attrs.frozen
class _Response:
    """A complete response, computed before anything is written."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def _json_response(
    payload: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> _Response:
    """A JSON response."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Response(status, (("Content-Type", "application/json; charset=utf-8"), *headers), body)


def _hub_error(
    status: int, message: str, code: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> _Response:
    """A Hub-style error: JSON ``{"error": ...}`` plus ``X-Error-Code``/``X-Error-Message``."""
    extra = [("X-Error-Message", message)]
    if code is not None:
        extra.insert(0, ("X-Error-Code", code))
    return _json_response({"error": message}, status, (*extra, *headers))


def _cdn_error(status: int, code: str, message: str) -> _Response:
    """An S3/CloudFront-style XML error."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    ).encode()
    return _Response(status, (("Content-Type", "application/xml"),), body)


def _parse_range(value: str, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """Parse a single-range ``Range``: ``(start, end_inclusive)``, or ``None`` to ignore it."""
    match = _RANGE_RE.fullmatch(value.strip())
    if match is None or match[1] == match[2] == "":
        return None
    if match[1] == "":
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - suffix), size - 1)
    start = int(match[1])
    end = int(match[2]) if match[2] else size - 1
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return (start, min(end, size - 1))


def _content_response(
    data: bytes,
    request_headers: Mapping[str, str],
    headers: Sequence[tuple[str, str]],
    *,
    etag: str,
    last_modified: str | None = None,
) -> _Response:
    """200 with ``data``, or 206/416 for a single ``Range`` (honouring ``If-Range``)."""
    base = (*headers, ("Accept-Ranges", "bytes"), ("ETag", etag))
    if last_modified is not None:
        base = (*base, ("Last-Modified", last_modified))
    range_header = request_headers.get("range")
    if_range = request_headers.get("if-range")
    if if_range is not None and if_range.strip() not in {etag, last_modified}:
        range_header = None  # validator changed (or unknown): send the whole thing
    parsed = None if range_header is None else _parse_range(range_header, len(data))
    if parsed is None:
        return _Response(200, base, data)
    if parsed == "unsatisfiable":
        return _Response(416, (*base, ("Content-Range", f"bytes */{len(data)}")))
    start, end = parsed
    return _Response(
        206, (*base, ("Content-Range", f"bytes {start}-{end}/{len(data)}")), data[start : end + 1]
    )


def _content_disposition(kind: str, path: str) -> str:
    """``inline``/``attachment`` header value naming the file's base name."""
    name = path.rpartition("/")[2]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    return f"{kind}; filename*=UTF-8''{urllib.parse.quote(name)}; filename=\"{ascii_name}\""


def _flag(query: Mapping[str, list[str]], name: str) -> bool:
    """Whether a boolean query parameter is set (``true``/``1``)."""
    return query.get(name, ["false"])[-1] in _TRUE


# -- the servers ------------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    """One listening origin; connections are tracked by the owning hub."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, owner: TestHub, origin: Origin) -> None:
        self.owner = owner
        self.origin: Origin = origin
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` performs."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about errors of connections the hub is tearing down."""
        if self.owner._stopping.is_set():
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Dispatches every request to :meth:`TestHub._respond` and writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "model-fetch-test-hub/1"
    disable_nagle_algorithm = True

    @property
    def _server(self) -> _HTTPServer:
        """The listening server of this connection."""
        return cast("_HTTPServer", self.server)

    def setup(self) -> None:
        """Register the connection so :meth:`TestHub.close` can cut it."""
        super().setup()
        self._server.owner._register(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self._server.owner._unregister(self.connection)

    def handle(self) -> None:
        """Serve the connection, ignoring clients that go away."""
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except OSError:
            self.close_connection = True
            if not self._server.owner._stopping.is_set():
                raise

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Suppress the default request logging to stderr."""

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._serve()

    def do_HEAD(self) -> None:
        """Serve a HEAD request."""
        self._serve()

    def do_POST(self) -> None:
        """Refuse POST (``paths-info`` and uploads are not implemented)."""
        self._serve()

    def do_PUT(self) -> None:
        """Refuse PUT."""
        self._serve()

    def do_DELETE(self) -> None:
        """Refuse DELETE."""
        self._serve()

    def _serve(self) -> None:
        """Record the request, compute the response and send it."""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        owner = self._server.owner
        origin = self._server.origin
        if self.command in {"GET", "HEAD"}:
            response = owner._respond(origin, self.path, headers)
        else:
            # The body is not read, so the connection cannot be reused.
            self.close_connection = True
            response = _Response(405, (("Allow", "GET, HEAD"), ("Connection", "close")))
        owner._record(RecordedRequest(self.command, origin, self.path, headers, response.status))
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)


class TestHub:
    """A Hugging Face Hub on 127.0.0.1 plus a CDN origin for LFS blobs.

    See the module docstring for what is served.  Repositories are model
    repos; ``private`` ones (and ``gated`` ones, for file downloads only) need
    ``Authorization: Bearer <token>`` when the hub was given a ``token``.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        *,
        token: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        cdn_base_url: str | None = None,
    ) -> None:
        """Create the hub; nothing is bound until :meth:`start`.

        Args:
            token: The only accepted bearer token for private and gated repos.
                Without it, ``private``/``gated`` are only reported in metadata.
            page_size: Entries per ``/tree`` page before a ``Link: rel="next"``.
            cdn_base_url: Send LFS downloads elsewhere: ``resolve`` answers 302 to
                ``{cdn_base_url}/{sha256}`` instead of the built-in CDN, whose origin
                then gets no requests. Whoever serves that URL (nginx over a directory of
                files named by their sha256, in the benchmarks) must serve the bytes.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self._token = token
        self._page_size = page_size
        #: Where ``Link: rel="next"`` points (None: this hub), to play a hostile endpoint.
        self.next_page_base: str | None = None
        self._cdn_base_url = None if cdn_base_url is None else cdn_base_url.rstrip("/")
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._repos: dict[str, _Repo] = {}
        #: Old repo id -> current id, for repos moved by :meth:`rename_repo`.
        self._aliases: dict[str, str] = {}
        #: (cdn key, sha256) -> every LFS file ever added.
        self._blobs: dict[tuple[str, str], HubFile] = {}
        self._corrupt: set[tuple[str, str]] = set()
        self._requests: list[RecordedRequest] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._servers: dict[Origin, _HTTPServer] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Self:
        """Bind both origins on ``127.0.0.1:0`` and serve in daemon threads."""
        if self._servers or self._closed:
            raise RuntimeError("TestHub can only be started once")
        origins: tuple[Origin, ...] = ("hub", "cdn")
        for origin in origins:
            server = _HTTPServer(self, origin)
            self._servers[server.origin] = server
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"TestHub-{origin}:{server.server_address[1]}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
        return self

    def close(self) -> None:
        """Stop both servers and cut open connections; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        with self._lock:
            connections = dict(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_SECONDS
        for thread in (*connections.values(), *self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        """Start the hub if needed and return it."""
        if not self._servers:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the hub."""
        self.close()

    def _port(self, origin: Origin) -> int:
        """The bound port of ``origin``."""
        if origin not in self._servers:
            raise RuntimeError("TestHub is not started")
        return int(self._servers[origin].server_address[1])

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:{port}``: the value for ``HF_ENDPOINT``."""
        return f"http://127.0.0.1:{self._port('hub')}"

    @property
    def cdn_endpoint(self) -> str:
        """``http://localhost:{cdn_port}``: the CDN origin LFS downloads are sent to."""
        return f"http://localhost:{self._port('cdn')}"

    # -- content --------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Sequence[HubFile],
        *,
        branch: str = "main",
        private: bool = False,
        gated: bool = False,
    ) -> str:
        """Create a model repo whose default ``branch`` holds ``files``; return the commit sha.

        ``gated`` repos keep their metadata public (as on the real Hub) but
        answer file downloads without a valid token with 401 ``GatedRepo``.
        """
        if not _REPO_ID_RE.fullmatch(repo_id) or ".." in repo_id:
            raise ValueError(f"invalid repo id: {repo_id!r}")
        ref = _full_ref(branch)
        if not ref.startswith("refs/heads/"):
            raise ValueError(f"the default branch must be a branch name, got {branch!r}")
        commit = _build_commit(files, parent=None, title=f"Initial commit of {repo_id}")
        key = hashlib.sha256(repo_id.encode()).hexdigest()[:32]
        repo = _Repo(repo_id, private, gated, ref.removeprefix("refs/heads/"), key)
        with self._lock:
            if repo_id in self._repos:
                raise ValueError(f"repo already exists: {repo_id!r}")
            self._repos[repo_id] = repo
            self._store(repo, commit, ref)
        return commit.sha

    def add_commit(self, repo_id: str, files: Sequence[HubFile], *, ref: str | None = None) -> str:
        """Add a commit whose tree is exactly ``files``; return its sha.

        Its parent is the commit ``ref`` names if that exists, else the head
        of the default branch.  ``ref`` (a branch name, ``refs/heads/x``,
        ``refs/tags/x`` or ``refs/pr/N``) is created or moved to the new
        commit; with ``ref=None`` it is reachable by sha only.  Earlier commits
        stay resolvable by sha.
        """
        full = None if ref is None else _full_ref(ref)
        with self._lock:
            repo = self._repo(repo_id)
            head = repo.refs.get(full or "") or repo.refs[f"refs/heads/{repo.default_branch}"]
            parent = repo.commits[head]
        commit = _build_commit(files, parent=parent, title=f"Update {repo_id}")
        with self._lock:
            self._store(repo, commit, full)
        return commit.sha

    def set_ref(self, repo_id: str, ref: str, sha: str) -> None:
        """Point ``ref`` (a branch, ``refs/tags/x``, ``refs/pr/N``) at an existing commit."""
        with self._lock:
            repo = self._repo(repo_id)
            if sha not in repo.commits:
                raise KeyError(f"unknown commit: {sha!r}")
            repo.refs[_full_ref(ref)] = sha

    def rename_repo(self, repo_id: str, new_id: str) -> None:
        """Rename a repo; its old URLs then answer 307 with a relative ``Location``.

        This is what the real Hub does for moved repos (``/old/resolve/...`` ->
        ``/new/resolve/...``, ``/api/models/old/...`` -> ``/api/models/new/...``);
        huggingface_hub follows such same-origin redirects itself.
        """
        if not _REPO_ID_RE.fullmatch(new_id) or ".." in new_id:
            raise ValueError(f"invalid repo id: {new_id!r}")
        with self._lock:
            repo = self._repo(repo_id)
            if new_id in self._repos:
                raise ValueError(f"repo already exists: {new_id!r}")
            del self._repos[repo_id]
            repo.repo_id = new_id
            self._repos[new_id] = repo
            self._aliases.pop(new_id, None)
            for old, target in self._aliases.items():
                if target == repo_id:
                    self._aliases[old] = new_id
            self._aliases[repo_id] = new_id

    def _store(self, repo: _Repo, commit: _Commit, ref: str | None) -> None:
        """Register ``commit`` (and its LFS blobs) in ``repo``; the lock is held."""
        repo.commits.setdefault(commit.sha, commit)
        if ref is not None:
            repo.refs[ref] = commit.sha
        for file in commit.files.values():
            if file.lfs:
                self._blobs[repo.cdn_key, file.sha256] = file

    def _repo(self, repo_id: str) -> _Repo:
        """The repo ``repo_id``; raise :class:`KeyError` if unknown."""
        try:
            return self._repos[repo_id]
        except KeyError:
            raise KeyError(f"unknown repo: {repo_id!r}") from None

    def corrupt_cdn(self, repo_id: str, path: str) -> None:
        """Make the CDN serve same-length wrong bytes for the LFS file ``path``.

        Every LFS version of ``path`` in any commit of the repo is affected;
        the hub's metadata keeps advertising the true sha256 and size.
        """
        with self._lock:
            repo = self._repo(repo_id)
            shas = {
                c.files[path].sha256
                for c in repo.commits.values()
                if path in c.files and c.files[path].lfs
            }
            if not shas:
                raise ValueError(f"{path!r} is not an LFS file of {repo_id!r}")
            self._corrupt.update((repo.cdn_key, sha) for sha in shas)

    def commit_sha(self, repo_id: str, revision: str) -> str:
        """The commit sha ``revision`` (branch, tag, ``refs/pr/N`` or sha) resolves to."""
        with self._lock:
            commit = self._repo(repo_id).resolve(revision)
        if commit is None:
            raise KeyError(f"unknown revision {revision!r} of {repo_id!r}")
        return commit.sha

    def resolve_url(self, repo_id: str, path: str, *, revision: str = "main") -> str:
        """The ``/resolve/`` URL huggingface_hub would use for ``path`` at ``revision``."""
        rev = urllib.parse.quote(revision, safe="")
        return f"{self.endpoint}/{repo_id}/resolve/{rev}/{urllib.parse.quote(path)}"

    # -- inspection -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of all requests received by both origins, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        """Forget all recorded requests."""
        with self._lock:
            self._requests.clear()

    # -- used by the handler --------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        """Store a request."""
        with self._lock:
            self._requests.append(request)

    def _register(self, sock: socket.socket) -> None:
        """Track a live connection (cut it at once if the hub is closing)."""
        with self._lock:
            self._connections[sock] = threading.current_thread()
        if self._stopping.is_set():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _unregister(self, sock: socket.socket) -> None:
        """Stop tracking a connection."""
        with self._lock:
            self._connections.pop(sock, None)

    def _respond(self, origin: Origin, target: str, headers: Mapping[str, str]) -> _Response:
        """Compute the answer to a GET or HEAD of ``target`` on ``origin``."""
        split = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if origin == "cdn":
            return self._cdn(split.path, query, headers)
        if moved := self._moved(split):
            return moved
        if split.path.startswith("/api/models/"):
            return self._api(split.path.removeprefix("/api/models/"), query, headers)
        if "/resolve/" in split.path:
            return self._resolve(split.path[1:], headers)
        return _Response(404, (("Content-Type", "text/plain; charset=utf-8"),), b"Not Found\n")

    def _match_repo(self, rest: str, separator: str) -> tuple[_Repo, str] | None:
        """Find the repo ``rest`` starts with (then ``separator``); return it and the tail."""
        with self._lock:
            repos = list(self._repos.values())
        best: tuple[_Repo, str] | None = None
        for repo in repos:
            prefix = repo.repo_id + separator
            matches = (rest == repo.repo_id and separator == "/") or rest.startswith(prefix)
            if matches and (best is None or len(repo.repo_id) > len(best[0].repo_id)):
                best = (repo, rest[len(prefix) :])
        return best

    def _moved(self, split: urllib.parse.SplitResult) -> _Response | None:
        """A 307 from a renamed repo's old URL to its new one, if ``split`` is one."""
        with self._lock:
            aliases = dict(self._aliases)
        for prefix, separator in (("/api/models/", "/"), ("/", "/resolve/")):
            rest = split.path.removeprefix(prefix)
            if rest == split.path or self._match_repo(rest, separator) is not None:
                continue
            for old, new in aliases.items():
                if (rest == old and separator == "/") or rest.startswith(old + separator):
                    location = prefix + new + rest[len(old) :]
                    location += f"?{split.query}" if split.query else ""
                    return _Response(
                        307,
                        (("Location", location), ("Content-Type", "text/plain; charset=utf-8")),
                        f"Temporary Redirect. Redirecting to {location}".encode(),
                    )
        return None

    def _denied(self, repo: _Repo, headers: Mapping[str, str], *, files: bool) -> _Response | None:
        """The 401 for a request lacking the token, or ``None`` if it may proceed."""
        if self._token is None or not (repo.private or (repo.gated and files)):
            return None
        authorization = headers.get("authorization")
        if authorization == f"Bearer {self._token}":
            return None
        if authorization is not None:
            # No X-Error-Code, like the real Hub: huggingface_hub raises a plain HfHubHTTPError.
            return _hub_error(401, "Invalid credentials in Authorization header")
        if repo.private:
            # The real Hub does not reveal that a private repo exists.
            return _hub_error(401, "Repository not found", "RepoNotFound")
        return _hub_error(
            401,
            f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
            "authenticated to access it. Please log in.",
            "GatedRepo",
        )

    def _lookup_revision(
        self, repo: _Repo, segments: list[str], *, keep: int = 0
    ) -> tuple[_Commit, list[str]] | None:
        """Resolve the longest prefix of URL ``segments`` naming a revision; return the rest.

        At least ``keep`` segments are left over (the file path of ``resolve``).
        """
        with self._lock:
            for i in range(len(segments) - keep, 0, -1):
                commit = repo.resolve(urllib.parse.unquote("/".join(segments[:i])))
                if commit is not None:
                    return commit, segments[i:]
        return None

    # -- hub: /api/models/... ---------------------------------------------------

    def _api(self, rest: str, query: dict[str, list[str]], headers: Mapping[str, str]) -> _Response:
        """Serve ``/api/models/{repo_id}[/revision/{rev} | /tree/{rev}[/{path}] | /refs]``."""
        match = self._match_repo(rest, "/")
        if match is None:
            return _hub_error(404, "Repository not found", "RepoNotFound")
        repo, tail = match
        if denied := self._denied(repo, headers, files=False):
            return denied
        kind, _, arg = tail.partition("/")
        if kind in {"", "revision"}:
            revision = urllib.parse.unquote(arg) if kind else repo.default_branch
            return self._model_info(repo, revision, query)
        if kind == "tree" and arg:
            return self._tree(repo, arg, query)
        if kind == "refs" and not arg:
            return _json_response(self._refs(repo, include_prs=_flag(query, "include_prs")))
        return _hub_error(404, "Not Found")

    def _model_info(self, repo: _Repo, revision: str, query: Mapping[str, list[str]]) -> _Response:
        """The ``ModelInfo`` JSON at ``revision``; ``blobs=true`` adds file metadata."""
        with self._lock:
            commit = repo.resolve(revision)
        if commit is None:
            return _hub_error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        blobs = _flag(query, "blobs")
        siblings: list[dict[str, object]] = []
        for file in commit.files.values():
            sibling: dict[str, object] = {"rfilename": file.path}
            if blobs:
                sibling.update(size=file.size, blobId=file.git_oid)
                if file.lfs:
                    sibling["lfs"] = {
                        "sha256": file.sha256,
                        "size": file.size,
                        "pointerSize": len(file.pointer),
                    }
            siblings.append(sibling)
        with self._lock:
            first = min(c.timestamp for c in repo.commits.values())
        info: dict[str, object] = {
            "_id": repo.cdn_key[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.partition("/")[0] if "/" in repo.repo_id else None,
            "sha": commit.sha,
            "lastModified": _iso(commit.timestamp),
            "createdAt": _iso(first),
            "private": repo.private,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(f.size for f in commit.files.values()),
        }
        expand = query.get("expand") or query.get("expand[]")
        if expand:
            info = {k: v for k, v in info.items() if k in {"_id", "id", *expand}}
        return _json_response(info)

    def _refs(self, repo: _Repo, *, include_prs: bool) -> dict[str, list[dict[str, str]]]:
        """The ``GitRefs`` JSON of ``repo``."""
        groups: dict[str, list[dict[str, str]]] = {
            "branches": [],
            "converts": [],
            "tags": [],
        }
        if include_prs:
            groups["pullRequests"] = []
        kinds = {"heads": "branches", "tags": "tags", "convert": "converts", "pr": "pullRequests"}
        with self._lock:
            refs = sorted(repo.refs.items())
        for ref, sha in refs:
            kind, _, name = ref.removeprefix("refs/").partition("/")
            group = groups.get(kinds[kind])
            if group is not None:
                group.append({"name": name, "ref": ref, "targetCommit": sha})
        return groups

    def _tree(self, repo: _Repo, arg: str, query: Mapping[str, list[str]]) -> _Response:
        """Serve one page of ``/tree/{rev}[/{path}]`` with a ``Link: rel="next"`` if more."""
        found = self._lookup_revision(repo, arg.split("/"))
        if found is None:
            revision = urllib.parse.unquote(arg.partition("/")[0])
            return _hub_error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        commit, rest = found
        directory = urllib.parse.unquote("/".join(rest)).strip("/")
        if directory not in commit.children:
            return _hub_error(404, f"Entry not found: {directory}", "EntryNotFound")
        recursive, expand = _flag(query, "recursive"), _flag(query, "expand")
        entries = self._tree_entries(repo, commit, directory, recursive=recursive, expand=expand)
        cursor = query.get("cursor", [""])[-1]
        try:
            offset = int(base64.urlsafe_b64decode(cursor.encode()).decode() or "0")
        except (ValueError, binascii.Error):
            return _hub_error(400, "Invalid cursor", "BadRequest")
        page = entries[offset : offset + self._page_size]
        headers: list[tuple[str, str]] = []
        if offset + self._page_size < len(entries):
            params = {k: v[-1] for k, v in query.items() if k != "cursor"}
            params["cursor"] = base64.urlsafe_b64encode(str(offset + len(page)).encode()).decode()
            base = self.next_page_base or self.endpoint
            url = f"{base}/api/models/{repo.repo_id}/tree/{arg}"
            url += f"?{urllib.parse.urlencode(params)}"
            headers.append(("Link", f'<{url}>; rel="next"'))
        return _json_response(page, headers=headers)

    def _tree_entries(
        self, repo: _Repo, commit: _Commit, directory: str, *, recursive: bool, expand: bool
    ) -> list[dict[str, object]]:
        """Entries under ``directory`` in git order (depth first when ``recursive``)."""
        result: list[dict[str, object]] = []
        stack = list(reversed(commit.children[directory]))
        while stack:
            path = stack.pop()
            file = commit.files.get(path)
            entry: dict[str, object]
            if file is None:
                entry = {"type": "directory", "oid": commit.trees[path], "size": 0, "path": path}
                if recursive:
                    stack.extend(reversed(commit.children[path]))
            else:
                entry = {"type": "file", "oid": file.git_oid, "size": file.size, "path": path}
                if file.lfs:
                    entry["lfs"] = {
                        "oid": file.sha256,
                        "size": file.size,
                        "pointerSize": len(file.pointer),
                    }
            if expand:
                last = self._last_commit(repo, commit, path)
                entry["lastCommit"] = {
                    "id": last.sha,
                    "title": last.title,
                    "date": _iso(last.timestamp),
                }
            result.append(entry)
        return result

    def _last_commit(self, repo: _Repo, commit: _Commit, path: str) -> _Commit:
        """The oldest ancestor of ``commit`` back to which ``path`` is unchanged."""
        oid = commit.oid_of(path)
        with self._lock:
            while commit.parent is not None:
                parent = repo.commits[commit.parent]
                if parent.oid_of(path) != oid:
                    break
                commit = parent
        return commit

    # -- hub: /{repo_id}/resolve/{rev}/{path} -----------------------------------

    def _resolve(self, rest: str, headers: Mapping[str, str]) -> _Response:
        """Serve a file: 200/206 for regular files, 302 to the CDN for LFS files."""
        match = self._match_repo(rest, "/resolve/")
        if match is None:
            return _hub_error(404, "Repository not found", "RepoNotFound")
        repo, tail = match
        if denied := self._denied(repo, headers, files=True):
            return denied
        segments = tail.split("/")
        found = self._lookup_revision(repo, segments, keep=1)
        if found is None:
            revision = urllib.parse.unquote(segments[0])
            return _hub_error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        commit, rest_segments = found
        path = urllib.parse.unquote("/".join(rest_segments))
        file = commit.files.get(path)
        common = (("X-Repo-Commit", commit.sha), ("Vary", "Origin, Accept-Encoding"))
        if file is None:
            return _hub_error(404, "Entry not found", "EntryNotFound", common)
        if not file.lfs:
            return _content_response(
                file.data,
                headers,
                (
                    *common,
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Disposition", _content_disposition("inline", path)),
                ),
                etag=f'"{file.etag}"',
            )
        location = self._cdn_url(repo, file)
        return _Response(
            302,
            (
                *common,
                ("Location", location),
                ("ETag", f'"{file.etag}"'),
                ("X-Linked-Etag", f'"{file.sha256}"'),
                ("X-Linked-Size", str(file.size)),
                ("Content-Type", "text/plain; charset=utf-8"),
            ),
            f"Found. Redirecting to {location}".encode(),
        )

    # -- CDN ------------------------------------------------------------------------

    def _signature(self, key: str, sha256: str) -> str:
        """The ``Signature`` query value the CDN accepts for one object."""
        return hmac.new(self._secret, f"{key}/{sha256}".encode(), "sha256").hexdigest()[:32]

    def _cdn_url(self, repo: _Repo, file: HubFile) -> str:
        """The signed CDN URL of an LFS file (query string like S3 presigned URLs)."""
        if self._cdn_base_url is not None:
            return f"{self._cdn_base_url}/{file.sha256}"
        query = urllib.parse.urlencode(
            {
                "response-content-disposition": _content_disposition("attachment", file.path),
                "Signature": self._signature(repo.cdn_key, file.sha256),
            },
            quote_via=urllib.parse.quote,
        )
        return f"{self.cdn_endpoint}/repos/{repo.cdn_key}/{file.sha256}?{query}"

    def _cdn(
        self, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> _Response:
        """Serve ``/repos/{key}/{sha256}?...&Signature=...`` with Range support."""
        parts = path.split("/")
        if len(parts) != 4 or parts[:2] != ["", "repos"]:
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        key, sha256 = parts[2], parts[3]
        signature = query.get("Signature", [""])[-1]
        if not hmac.compare_digest(signature, self._signature(key, sha256)):
            return _cdn_error(403, "AccessDenied", "Access denied")
        with self._lock:
            blob = self._blobs.get((key, sha256))
            corrupt = (key, sha256) in self._corrupt
        if blob is None:
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        etag = f'"{blob.md5}"'
        data = blob.data.translate(_XOR_TABLE) if corrupt else blob.data
        extra: list[tuple[str, str]] = [("Content-Type", "application/octet-stream")]
        if disposition := query.get("response-content-disposition"):
            extra.append(("Content-Disposition", disposition[-1]))
        return _content_response(data, headers, extra, etag=etag, last_modified=CDN_LAST_MODIFIED)
