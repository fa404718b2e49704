"""The shared HTTP client: one urllib3 pool, the usual environment, and safe redirects.

What curl and requests users expect works here: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``,
``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` and ``~/.netrc`` credentials. Redirects are followed by
hand so that every hop is checked: only http(s) targets, at most ten hops, and on a change of origin
every header except a short safe list is dropped, so credentials never reach another origin.
"""

from __future__ import annotations

import netrc
import os
import threading
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urljoin, urlsplit

from model_fetch._log import get_logger, redact_url
from model_fetch.exceptions import DownloadFailed

if TYPE_CHECKING:
    from collections.abc import Mapping

    import urllib3

    from model_fetch.transfer._policy import UrlPolicy

__all__ = ["HttpClient", "error_reason", "origin"]

log = get_logger(__name__)

USER_AGENT: Final = "model_fetch/0.1 (+urllib3)"
MAX_REDIRECTS: Final = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that carry no credential and may follow a redirect to another origin.
_SAFE_ACROSS_ORIGINS = frozenset({"user-agent", "accept", "accept-encoding", "range", "if-range"})


def error_reason(exc: BaseException) -> str:
    """What a urllib3 error says went wrong (its ``reason`` when it has one)."""
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _split_userinfo(url: str) -> tuple[str, str | None]:
    """Move ``user:password@`` out of a URL (it becomes a Basic header for that origin only)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return parts._replace(netloc=hostport).geturl(), f"{unquote(user)}:{unquote(password)}"


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    """Apply NO_PROXY as curl does: ``*``, exact hosts, and domain suffixes (``.corp``)."""
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = (
            raw.strip().lower().rsplit(":", 1)[0] if raw.count(":") == 1 else raw.strip().lower()
        )
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def origin(url: str) -> tuple[str, str, int | None]:
    """Return (scheme, host, port) with default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class HttpClient:
    """A thread-safe urllib3 client shared by every download of a :class:`Downloader`.

    Args:
        environ: The environment to read proxies, CA bundle and netrc location from
            (``os.environ`` by default, read when the client is built).
        num_pools: How many hosts to keep connections to.
        maxsize: Connections kept per host (parallel ranged downloads use several).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        num_pools: int = 16,
        maxsize: int = 16,
    ) -> None:
        """Create the client; no connection is made until the first request."""
        env = dict(os.environ if environ is None else environ)
        self._env = env
        self._ca_certs = env.get("SSL_CERT_FILE") or env.get("REQUESTS_CA_BUNDLE") or None
        self._pool_kw: dict[str, object] = {
            "num_pools": num_pools,
            "maxsize": maxsize,
            "block": False,
        }
        self._managers: dict[tuple[str | None, bool], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self._netrc: netrc.netrc | None = None
        self._netrc_loaded = False

    def _proxy_for(self, url: str) -> str | None:
        scheme, host, _ = origin(url)
        proxies = {
            key.lower().removesuffix("_proxy"): value
            for key, value in self._env.items()
            if key.lower().endswith("_proxy") and value
        }
        proxy = proxies.get(scheme)
        if not proxy:
            return None
        if _bypasses_proxy(host, proxies.get("no", "")):
            return None
        return proxy

    def _manager(self, url: str, verify: bool) -> urllib3.PoolManager:
        import urllib3  # noqa: PLC0415 - loaded on first use, so start-up stays light

        proxy = self._proxy_for(url)
        key = (proxy, verify)
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                tls: dict[str, object] = {"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
                if verify and self._ca_certs:
                    tls["ca_certs"] = self._ca_certs
                if not verify:
                    tls["assert_hostname"] = False
                kwargs = {**self._pool_kw, **tls}
                manager = (
                    urllib3.ProxyManager(proxy, **kwargs)  # type: ignore[arg-type]
                    if proxy
                    else urllib3.PoolManager(**kwargs)  # type: ignore[arg-type]
                )
                self._managers[key] = manager
            return manager

    def has_credentials(self, url: str) -> bool:
        """Whether a request to ``url`` would carry credentials (userinfo or a netrc entry)."""
        if "@" in url.partition("://")[2].partition("/")[0]:
            return True
        return self._netrc_auth(url) is not None

    def _netrc_auth(self, url: str) -> str | None:
        with self._lock:
            if not self._netrc_loaded:
                self._netrc_loaded = True
                path = self._env.get("NETRC") or os.path.expanduser("~/.netrc")
                if os.path.isfile(path):
                    try:
                        self._netrc = netrc.netrc(path)
                    except (netrc.NetrcParseError, OSError) as exc:
                        log.warning("Ignoring unreadable netrc file %s: %s", path, exc)
            found = self._netrc.authenticators(origin(url)[1]) if self._netrc else None
        if not found:
            return None
        login, _account, password = found
        import urllib3  # noqa: PLC0415 - loaded on first use, so start-up stays light

        return urllib3.util.make_headers(basic_auth=f"{login}:{password or ''}")["authorization"]

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        verify: bool = True,
        policy: UrlPolicy | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send a request and follow redirects safely; the body is not preloaded.

        Args:
            method: ``GET`` or ``HEAD``.
            url: An http or https URL.
            headers: Extra headers. ``Authorization`` and other credentials are sent to the
                first origin only.
            timeout: Seconds for the connection and for each read.
            verify: Whether to verify TLS certificates.
            policy: For URLs from untrusted requests: every hop is checked after DNS
                resolution and the connection goes to the checked address.

        Returns:
            The final (non-redirect) response, streaming. The caller must ``release_conn()``.

        Raises:
            DownloadFailed: Too many redirects, or a redirect to something other than http(s).
            urllib3.exceptions.HTTPError: A connection-level error (the caller retries those).
        """
        sent = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        url, userinfo = _split_userinfo(url)
        if userinfo and not any(key.lower() == "authorization" for key in sent):
            import urllib3  # noqa: PLC0415 - loaded on first use

            sent["Authorization"] = urllib3.util.make_headers(basic_auth=userinfo)["authorization"]
        if not any(key.lower() == "authorization" for key in sent):
            auth = self._netrc_auth(url)
            if auth:
                sent["Authorization"] = auth
        first_origin = origin(url)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send(
                method=method,
                url=current,
                headers=sent,
                timeout=timeout,
                verify=verify,
                policy=policy,
            )
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            response.drain_conn()
            response.release_conn()
            if not location:
                return response
            target = urljoin(current, location)
            if urlsplit(target).scheme.lower() not in {"http", "https"}:
                raise DownloadFailed(
                    f"Refused a redirect from {redact_url(current)} to a non-http URL",
                    url=redact_url(url),
                )
            if origin(target) != first_origin:
                # Another origin never sees credentials, whatever their header name.
                sent = {k: v for k, v in sent.items() if k.lower() in _SAFE_ACROSS_ORIGINS}
            log.debug("Following redirect %s -> %s", redact_url(current), redact_url(target))
            current = target
        raise DownloadFailed(
            f"Too many redirects (over {MAX_REDIRECTS}) from {redact_url(url)}",
            url=redact_url(url),
        )

    def _send(
        self,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        timeout: float,
        verify: bool,
        policy: UrlPolicy | None,
    ) -> urllib3.BaseHTTPResponse:
        import urllib3  # noqa: PLC0415 - loaded on first use, so start-up stays light

        manager = self._manager(url, verify)
        common: dict[str, Any] = {
            "timeout": urllib3.Timeout(connect=timeout, read=timeout),
            "retries": False,
            "redirect": False,
            "preload_content": False,
            "decode_content": False,
        }
        target = policy.check(url) if policy is not None else None
        if target is None or self._proxy_for(url):
            # Behind a proxy the proxy resolves the name; the check above still ran.
            return manager.request(method, url, headers=headers, **common)
        pool_kwargs: dict[str, Any] = {}
        if target.scheme == "https":
            pool_kwargs = {
                "server_hostname": target.host,
                "assert_hostname": target.host if verify else False,
            }
        pool = manager.connection_from_host(
            target.address,
            target.port,
            target.scheme,
            pool_kwargs=pool_kwargs,
        )
        default_port = {"http": 80, "https": 443}[target.scheme]
        shown_host = f"[{target.host}]" if ":" in target.host else target.host
        host_header = shown_host if target.port == default_port else f"{shown_host}:{target.port}"
        return pool.urlopen(
            method,
            target.request_uri,
            headers={**headers, "Host": host_header},
            assert_same_host=False,
            **common,
        )

    def close(self) -> None:
        """Close every pooled connection. The client can still be used afterwards."""
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
        for manager in managers:
            manager.clear()
