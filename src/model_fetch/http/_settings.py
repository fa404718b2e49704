"""Security settings of the REST server."""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Final

import attrs

from model_fetch.exceptions import InvalidRequest
from model_fetch.transfer import UrlPolicy

__all__ = ["LOOPBACK_NAMES", "ServerSettings", "is_loopback_host", "parse_origin"]

#: Host names a browser on the same machine uses for a server bound to loopback.
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback_host(host: str) -> bool:
    """Whether a bind address or host name stays on this machine."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def parse_origin(value: str) -> str:
    """Normalise a browser origin (``scheme://host[:port]``), refusing anything else.

    Raises:
        InvalidRequest: ``*``, a path, a query, credentials, or a scheme other than http(s).
    """
    text = value.strip()
    if text == "*":
        raise InvalidRequest(
            "CORS origin '*' is refused: name each origin (for example https://app.example.com)",
        )
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme.lower() not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or port == -1
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
    ):
        raise InvalidRequest(
            f"Invalid CORS origin {value!r}: expected scheme://host[:port] with http or https",
        )
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _split_host(host_header: str) -> tuple[str, int | None]:
    host = host_header.strip().lower()
    port: str | None = None
    if host.startswith("["):
        end = host.find("]")
        host, rest = (host[1:end], host[end + 1 :]) if end > 0 else (host, "")
        port = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        host, port = host.split(":", 1)
    return host, int(port) if port and port.isdigit() else None


def _origins(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(parse_origin(value) for value in values))


@attrs.frozen(kw_only=True)
class ServerSettings:
    """How the REST server protects itself and what it lets requests do.

    Attributes:
        token: A bearer token every API route requires (``/health`` is exempt), or None.
        bound_host: The address the server listens on; it is always an allowed Host.
        allowed_hosts: Further Host header names to accept (DNS rebinding defence).
        url_policy: Which download URLs requests may name (SSRF defence).
        allow_insecure_tls: Whether requests may ask for ``verify_ssl: false``.
        default_wait: Seconds ``POST /model-download`` waits for completion before it answers
            ``started`` (the ``wait`` query parameter overrides it, up to 3600).
        header_timeout: Seconds a connection has to send a request's headers (from when it opens,
            or the previous response ends) before it is dropped (slow-loris defence).
        cors_origins: Browser origins (``scheme://host[:port]``) hosted elsewhere that may call
            the API; ``*`` is refused. Requests whose ``Origin`` is neither the server's own nor
            one of these are refused (400).
    """

    token: str | None = None
    bound_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    url_policy: UrlPolicy = attrs.field(factory=UrlPolicy)
    allow_insecure_tls: bool = False
    default_wait: float = attrs.field(
        default=2.0,
        validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(3600.0)),
    )
    cors_origins: tuple[str, ...] = attrs.field(default=(), converter=_origins)
    header_timeout: float = attrs.field(
        default=10.0,
        validator=attrs.validators.and_(attrs.validators.gt(0.0), attrs.validators.le(300.0)),
    )

    def host_allowed(self, host_header: str) -> bool:
        """Whether a request's Host header names this server."""
        host, _ = _split_host(host_header)
        allowed = {name.lower().strip("[]") for name in (*self.allowed_hosts, self.bound_host)}
        if is_loopback_host(self.bound_host):
            allowed |= LOOPBACK_NAMES
        return host in allowed

    def origin_allowed(self, origin: str, host_header: str) -> bool:
        """Whether a request's ``Origin`` is the server's own (its Host) or an allowed one."""
        try:
            normalised = parse_origin(origin)
        except InvalidRequest:
            return False  # "null" (sandboxed frames, file pages) and anything malformed
        if normalised in self.cors_origins:
            return True
        parts = urllib.parse.urlsplit(normalised)
        origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
        host, port = _split_host(host_header)
        same_port = port == origin_port or (port is None and parts.port is None)
        return (parts.hostname or "") == host.strip("[]") and same_port
