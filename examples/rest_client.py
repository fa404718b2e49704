"""A small client for the model_fetch REST API, written with plain ``requests``.

It follows the contract's own "Python Model Downloader" example (``POST /model-download``, then
poll the progress endpoint until the download is ``completed`` or ``failed``) but fixes what
that example gets wrong:

- HTTP errors raise :class:`ModelDownloadError` with the status code and the server's
  ``detail`` instead of being printed and turned into a dict; network errors are
  ``requests`` exceptions, also raised.
- Every request has a timeout, and polling can be bounded (``max_wait``).
- Polling uses the ``progress_endpoint`` the server returned and a short, configurable interval.
- The library part never prints; a progress callback (:class:`ProgressBar` draws the
  contract's one-line bar) is opt-in.
- Each thread gets its own ``requests.Session``, so :meth:`ModelDownloadClient.download_batch`
  is thread-safe, and its concurrency limit is the pool size (no extra semaphore).
- ``verify_download`` accepts only ``status == "available"``, the contract's installed state.
- A bearer token (``model-fetch serve --token``) is sent when given.

Use it as a module::

    from rest_client import ModelDownloadClient, ProgressBar

    with ModelDownloadClient("http://127.0.0.1:8000") as client:
        result = client.download_model(
            "tiny-mlp", "v1", download_url="http://127.0.0.1:9000/tiny-mlp.safetensors",
            checksum="sha256:...", progress_callback=ProgressBar(),
        )

or from the command line::

    python examples/rest_client.py --url http://127.0.0.1:8000 download NAME
        [--version V] [--download-url U] [--checksum C] [--force] [--json]
    python examples/rest_client.py --url http://127.0.0.1:8000 list

The token defaults to ``$MODEL_FETCH_API_TOKEN``. Exit status: 0 on success, 1 when the download
failed or the server answered with an error, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Final, Self

import requests

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

__all__ = ["ModelDownloadClient", "ModelDownloadError", "ProgressBar", "main"]

#: Seconds every request may take (connect and read), as in the contract's example.
DEFAULT_TIMEOUT: Final = 10.0
#: The statuses after which a download changes no more.
FINAL_STATUSES: Final = frozenset({"completed", "failed"})


class ModelDownloadError(Exception):
    """The server answered with an HTTP error.

    Attributes:
        status_code: The HTTP status (400, 401, 404, 409, 413, 415, 500, ...).
        detail: The ``detail`` of the server's ``{"detail": ...}`` body, or the raw body text.
    """

    def __init__(self, status_code: int, detail: Any) -> None:
        """Keep the status code and the server's explanation."""
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class ModelDownloadClient:
    """A client for ``model-fetch serve`` (the model-download REST contract).

    Args:
        base_url: The server's root, e.g. ``http://127.0.0.1:8000``.
        token: A bearer token, for a server started with ``--token``.
        timeout: Seconds each HTTP request may take.
        wait: Seconds ``POST /model-download`` may wait for completion before it answers
            ``started`` (the ``?wait=`` query parameter); None keeps the server's default.

    The client holds one ``requests.Session`` per thread; call :meth:`close` (or use it as a
    context manager) to close them.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        wait: float | None = None,
    ) -> None:
        """Configure the client; no connection is made yet."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.wait = wait
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._sessions: dict[int, requests.Session] = {}
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        """Return the client."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close every session."""
        self.close()

    def close(self) -> None:
        """Close the sessions of every thread that used this client."""
        self._release(None)

    def _release(self, threads: set[int] | None) -> None:
        """Close the sessions of these threads (all when None)."""
        with self._lock:
            idents = set(self._sessions) if threads is None else threads & set(self._sessions)
            sessions = [self._sessions.pop(ident) for ident in idents]
        for session in sessions:
            session.close()

    def _session(self) -> requests.Session:
        """This thread's session (a Session must not be shared between threads)."""
        ident = threading.get_ident()
        with self._lock:
            session = self._sessions.get(ident)
            if session is None:
                session = requests.Session()
                session.headers.update(self._headers)
                self._sessions[ident] = session
        return session

    def _url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body or raise ModelDownloadError."""
        response = self._session().request(
            method,
            self._url(path),
            params=params,
            json=body,
            timeout=self.timeout if timeout is None else timeout,
        )
        if response.status_code >= 400:  # noqa: PLR2004 - HTTP error range
            raise ModelDownloadError(response.status_code, _detail(response))
        return response.json()

    # -- downloads -------------------------------------------------------------------------

    def start_download(
        self,
        model_name: str,
        version: str = "latest",
        *,
        download_url: str | None = None,
        source: str = "default",
        checksum: str | None = None,
        force_download: bool = False,
        metadata: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """``POST /model-download`` once: the "completed" body, or the "started" one.

        ``options`` are the contract's options object (``chunk_size``, ``timeout``,
        ``retry_count``, ``verify_ssl``, ``extract_after_download``, ``cleanup_temp_files``,
        plus model_fetch's ``allow_patterns``/``ignore_patterns``).

        Raises:
            ModelDownloadError: The server refused the request or the download failed while the
                server waited (400, 401, 404, 409, 413, 415, 500).
            requests.RequestException: The server could not be reached or did not answer.
        """
        payload: dict[str, Any] = {
            "model_name": model_name,
            "version": version,
            "source": source,
            "force_download": force_download,
        }
        if download_url:
            payload["download_url"] = download_url
        if checksum:
            payload["checksum"] = checksum
        if options:
            payload["options"] = options
        if metadata:
            payload["metadata"] = dict(metadata)
        params = None
        timeout = self.timeout
        if self.wait is not None:
            params = {"wait": self.wait}
            timeout += self.wait  # the server may hold the answer that long
        result: dict[str, Any] = self._request(
            "POST", "/model-download", params=params, body=payload, timeout=timeout
        )
        return result

    def wait_for_download(
        self,
        started: Mapping[str, Any],
        progress_callback: Callable[[dict[str, Any]], None] | None = None,
        poll_interval: float = 0.5,
        max_wait: float | None = None,
    ) -> dict[str, Any]:
        """Poll a started download's progress endpoint until it is completed or failed.

        Args:
            started: The "started" body (its ``progress_endpoint`` or ``download_id`` is used).
            progress_callback: Called with every body the progress endpoint returns, the final
                one included.
            poll_interval: Seconds between polls.
            max_wait: Give up after this many seconds (None: no limit).

        Returns:
            The final body: "completed", or "failed" (with ``message``, ``error`` and either
            ``status_code`` or, for a cancelled download, ``cancelled: true``).

        Raises:
            ModelDownloadError: The progress endpoint answered with an error (404 when the
                server forgot the download, e.g. after a restart).
            TimeoutError: ``max_wait`` passed first.
        """
        endpoint = started.get("progress_endpoint") or (
            f"/model-download/{_quote(str(started['download_id']))}/progress"
        )
        deadline = None if max_wait is None else time.monotonic() + max_wait
        while True:
            body: dict[str, Any] = self._request("GET", str(endpoint))
            if progress_callback is not None:
                progress_callback(body)
            if body.get("status") in FINAL_STATUSES:
                return body
            if deadline is not None and time.monotonic() + poll_interval > deadline:
                raise TimeoutError(f"{endpoint} did not finish within {max_wait} s")
            time.sleep(poll_interval)

    def download_model(
        self,
        model_name: str,
        version: str = "latest",
        *,
        download_url: str | None = None,
        source: str = "default",
        checksum: str | None = None,
        force_download: bool = False,
        progress_callback: Callable[[dict[str, Any]], None] | None = None,
        poll_interval: float = 0.5,
        metadata: Mapping[str, Any] | None = None,
        max_wait: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Download a model and wait for it: POST, then poll when the answer is "started".

        ``progress_callback`` gets every progress body (and the final one); ``metadata`` is the
        contract's metadata object; ``max_wait`` bounds the polling (TimeoutError after it).
        Extra keyword arguments are the contract's options object (see :meth:`start_download`).

        Returns:
            The "completed" body, or the progress endpoint's final "failed" body when a download
            that had started failed or was cancelled.

        Raises:
            ModelDownloadError: An HTTP error, e.g. 409 when the version is installed and
                ``force_download`` is false, or 500 when it failed within the server's wait.
            requests.RequestException: The server could not be reached or did not answer.
            TimeoutError: ``max_wait`` passed before the download finished.
        """
        result = self.start_download(
            model_name,
            version,
            download_url=download_url,
            source=source,
            checksum=checksum,
            force_download=force_download,
            metadata=metadata,
            **options,
        )
        if result.get("status") == "started" and "download_id" in result:
            return self.wait_for_download(result, progress_callback, poll_interval, max_wait)
        if progress_callback is not None:
            progress_callback(result)
        return result

    def download_batch(
        self, models: Sequence[Mapping[str, Any]], max_concurrent: int = 2
    ) -> dict[str, dict[str, Any]]:
        """Download several models, at most ``max_concurrent`` at a time.

        Args:
            models: Keyword arguments of :meth:`download_model`, one mapping per model (each
                with a ``model_name``; names must be distinct, they key the result).
            max_concurrent: How many downloads run at once (the thread pool's size).

        Returns:
            ``{model_name: result}``. A model whose download raised gets
            ``{"status": "failed", "error": ..., "status_code": ...}`` (status code only for HTTP
            errors) so one failure does not hide the others' results.
        """
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        names = [str(config["model_name"]) for config in models]
        if len(set(names)) != len(names):
            raise ValueError("model names in a batch must be distinct")
        results: dict[str, dict[str, Any]] = {}
        workers: set[int] = set()
        try:
            with concurrent.futures.ThreadPoolExecutor(
                max_workers=max_concurrent, thread_name_prefix="model-download"
            ) as pool:
                futures = {
                    pool.submit(self._download_one, config, workers): name
                    for config, name in zip(models, names, strict=True)
                }
                for future in concurrent.futures.as_completed(futures):
                    results[futures[future]] = future.result()
        finally:
            self._release(workers)  # the pool's threads are gone: close their sessions
        return {name: results[name] for name in names}

    def _download_one(self, config: Mapping[str, Any], workers: set[int]) -> dict[str, Any]:
        workers.add(threading.get_ident())
        try:
            return self.download_model(**config)
        except ModelDownloadError as exc:
            return {"status": "failed", "error": str(exc.detail), "status_code": exc.status_code}
        except (requests.RequestException, TimeoutError) as exc:
            return {"status": "failed", "error": str(exc)}

    def get_download_status(self, download_id: str) -> dict[str, Any]:
        """``GET /model-download/{id}/progress``: "downloading", "completed" or "failed".

        Raises:
            ModelDownloadError: 404 for an unknown (or long finished) download id.
        """
        result: dict[str, Any] = self._request(
            "GET", f"/model-download/{_quote(download_id)}/progress"
        )
        return result

    def cancel(self, download_id: str) -> dict[str, Any]:
        """``DELETE /model-download/{id}``: stop a running download, installing nothing.

        Raises:
            ModelDownloadError: 404 for an unknown id, 409 when it had already finished.
        """
        result: dict[str, Any] = self._request("DELETE", f"/model-download/{_quote(download_id)}")
        return result

    # -- models ----------------------------------------------------------------------------

    def list_models(self) -> list[dict[str, Any]]:
        """``GET /models``: the entries, each with ``name``, ``version`` and ``status``.

        ``status`` is ``available`` (installed), ``loading`` (a download in flight, with its
        ``download_id``) or ``failed`` (the server's latest attempt failed; nothing installed).
        """
        body: dict[str, Any] = self._request("GET", "/models")
        models: list[dict[str, Any]] = body.get("models", [])
        return models

    def verify_download(self, model_name: str, version: str = "latest") -> bool:
        """Whether ``GET /models`` lists that name and version as ``available`` (installed)."""
        return any(
            model.get("name") == model_name
            and model.get("version") == version
            and model.get("status") == "available"
            for model in self.list_models()
        )

    def model_info(self, model_name: str, version: str | None = None) -> dict[str, Any]:
        """``GET /model-info/{name}``: files, sizes, checksums and readiness of one version.

        Raises:
            ModelDownloadError: 404 when the model (or that version) is not installed.
        """
        params = {"version": version} if version is not None else None
        result: dict[str, Any] = self._request(
            "GET", f"/model-info/{_quote(model_name, safe='/')}", params=params
        )
        return result

    def remove_model(
        self, model_name: str, version: str = "all", *, force: bool = False
    ) -> dict[str, Any]:
        """``DELETE /model-remove/{name}``: remove one version, ``latest`` or ``all``.

        Args:
            model_name: The model.
            version: A version, ``latest`` or ``all``.
            force: Cancel a download of the model in flight first (otherwise that is a 409).

        Raises:
            ModelDownloadError: 404 when nothing matches, 409 while a download is in flight.
        """
        result: dict[str, Any] = self._request(
            "DELETE",
            f"/model-remove/{_quote(model_name, safe='/')}",
            params={"version": version},
            body={"confirm": True, "force": force},
        )
        return result

    def cache_info(self) -> dict[str, Any]:
        """``GET /cache-info``: store capacity, installed models and the download area."""
        result: dict[str, Any] = self._request("GET", "/cache-info")
        return result

    def health(self) -> dict[str, Any]:
        """``GET /health`` (needs no token)."""
        result: dict[str, Any] = self._request("GET", "/health")
        return result


def _quote(value: str, safe: str = "") -> str:
    return urllib.parse.quote(value, safe=safe)


def _detail(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason
    return body.get("detail", body) if isinstance(body, dict) else body


class ProgressBar:
    """The contract's one-line progress bar, as a progress callback (drawn on stderr).

    ``[████----]  67.5% | 2.1 MB/s | ETA: 15s | Stage: downloading``. A "completed" body draws
    the bar full and ends the line; a "failed" one ends the line where the bar stopped.
    """

    def __init__(self, width: int = 40) -> None:
        """Create an empty bar ``width`` characters wide."""
        self.width = width
        self.drawn = False
        encoding = getattr(sys.stderr, "encoding", None) or "ascii"
        try:
            "█".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            self._fill = "#"
        else:
            self._fill = "█"

    def __call__(self, body: Mapping[str, Any]) -> None:
        """Draw one progress body."""
        status = body.get("status")
        progress = body.get("progress")
        if isinstance(progress, dict):
            self._draw(progress)
        elif status == "completed":
            seconds = float(body.get("download_duration_seconds") or 0.0)
            size = float(body.get("file_size_mb") or 0.0)
            speed = size / seconds if seconds > 0 else 0.0
            self._draw({"percentage": 100.0, "speed_mbps": speed, "current_stage": "completed"})
        if status in FINAL_STATUSES:
            self.finish()

    def _draw(self, progress: Mapping[str, Any]) -> None:
        percentage = min(max(float(progress.get("percentage") or 0.0), 0.0), 100.0)
        speed = float(progress.get("speed_mbps") or 0.0)
        eta = float(progress.get("eta_seconds") or 0.0)
        stage = progress.get("current_stage", "unknown")
        filled = int(self.width * percentage / 100)
        bar = self._fill * filled + "-" * (self.width - filled)
        sys.stderr.write(
            f"\r[{bar}] {percentage:5.1f}% | {speed:.1f} MB/s | ETA: {eta:.0f}s | Stage: {stage}"
        )
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        """End the bar's line, if one was drawn."""
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


# -- command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rest_client.py", description="A client for the model_fetch REST API."
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server root URL")
    parser.add_argument(
        "--token",
        default=os.environ.get("MODEL_FETCH_API_TOKEN"),
        help="bearer token (default: $MODEL_FETCH_API_TOKEN)",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per request, s")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    download = commands.add_parser("download", help="download a model and wait for it")
    download.add_argument("name", metavar="NAME")
    download.add_argument("--version", dest="model_version", default="latest", metavar="V")
    download.add_argument("--download-url", metavar="U", help="direct download URL")
    download.add_argument("--source", default="default", metavar="S")
    download.add_argument("--checksum", metavar="C", help="expected digest, e.g. sha256:HEX")
    download.add_argument("--force", action="store_true", help="download again if installed")
    download.add_argument("--poll-interval", type=float, default=0.5, metavar="S")
    download.add_argument("--json", action="store_true", help="print the final body as JSON")

    commands.add_parser("list", help="GET /models")
    info = commands.add_parser("info", help="GET /model-info/NAME")
    info.add_argument("name", metavar="NAME")
    info.add_argument("--version", dest="model_version", metavar="V")
    status = commands.add_parser("status", help="GET /model-download/ID/progress")
    status.add_argument("download_id", metavar="ID")
    cancel = commands.add_parser("cancel", help="DELETE /model-download/ID")
    cancel.add_argument("download_id", metavar="ID")
    remove = commands.add_parser("remove", help="DELETE /model-remove/NAME")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--version", dest="model_version", default="all", metavar="V")
    remove.add_argument("--force", action="store_true", help="cancel a download in flight")
    commands.add_parser("cache-info", help="GET /cache-info")
    return parser


def _run_download(client: ModelDownloadClient, args: argparse.Namespace) -> int:
    bar = None if args.json else ProgressBar()
    result = client.start_download(
        args.name,
        args.model_version,
        download_url=args.download_url,
        source=args.source,
        checksum=args.checksum,
        force_download=args.force,
    )
    if result.get("status") == "started":
        try:
            result = client.wait_for_download(result, bar, args.poll_interval)
        except KeyboardInterrupt:
            if bar is not None:
                bar.finish()
            client.cancel(str(result["download_id"]))
            print(f"Interrupted: download {result['download_id']} cancelled", file=sys.stderr)
            return 130
        finally:
            if bar is not None:
                bar.finish()
    if args.json:
        print(json.dumps(result, indent=2))
    elif result.get("status") == "completed":
        check = "checksum verified" if result.get("checksum_verified") else "no checksum checked"
        print(f"Installed {result.get('model_name')} {result.get('version')} ({check})")
        print(result.get("file_path"))
    else:
        print(f"Download failed: {result.get('message') or result.get('error')}", file=sys.stderr)
    return 0 if result.get("status") == "completed" else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    with ModelDownloadClient(args.url, args.token, timeout=args.timeout) as client:
        try:
            if args.command == "download":
                return _run_download(client, args)
            result: Any
            if args.command == "list":
                result = {"models": client.list_models()}
            elif args.command == "info":
                result = client.model_info(args.name, args.model_version)
            elif args.command == "status":
                result = client.get_download_status(args.download_id)
            elif args.command == "cancel":
                result = client.cancel(args.download_id)
            elif args.command == "remove":
                result = client.remove_model(args.name, args.model_version, force=args.force)
            else:
                result = client.cache_info()
        except ModelDownloadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except requests.RequestException as exc:
            print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("Interrupted", file=sys.stderr)
            return 130
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
