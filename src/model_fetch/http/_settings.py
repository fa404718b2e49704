"""Security settings of the REST server."""

from __future__ import annotations

import ipaddress
from typing import Final

import attrs

from model_fetch.transfer import UrlPolicy

__all__ = ["LOOPBACK_NAMES", "ServerSettings", "is_loopback_host"]

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

    def host_allowed(self, host_header: str) -> bool:
        """Whether a request's Host header names this server."""
        host = host_header.strip().lower()
        if host.startswith("["):
            host = host[1 : host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        allowed = {name.lower().strip("[]") for name in (*self.allowed_hosts, self.bound_host)}
        if is_loopback_host(self.bound_host):
            allowed |= LOOPBACK_NAMES
        return host in allowed
