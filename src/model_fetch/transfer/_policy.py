"""Which URLs an untrusted request may make the server fetch (SSRF defence).

Requests that arrive over HTTP may only name http and https URLs. By default, a URL whose host
resolves to a private, loopback, link-local or otherwise non-global address is refused. The check
runs after DNS resolution, the connection then goes to the address that was checked (so a second,
different DNS answer cannot slip in), and it is repeated on every redirect hop. URLs are parsed
with urllib3's own parser, the one that connects, and any backslash is refused outright, so the
``http://evil<backslash>@good/`` trick cannot make the check and the connection disagree.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

import attrs
import urllib3

from model_fetch._log import redact_url
from model_fetch.exceptions import InvalidRequest

__all__ = ["ResolvedTarget", "UrlPolicy", "is_public_address"]

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is globally routable, looking through IPv6 wrappers of IPv4.

    ``::ffff:127.0.0.1``, 6to4 (``2002::/16``), Teredo and NAT64 (``64:ff9b::/96``) addresses
    are judged by the IPv4 address they carry.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public_address(address.sixtofour)
        if address.teredo is not None:
            return is_public_address(address.teredo[1])
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _NAT64_LOCAL:
            return False
    return bool(address.is_global) and not address.is_multicast


@attrs.frozen(kw_only=True)
class ResolvedTarget:
    """A checked URL: where to connect, and what to call the host.

    Attributes:
        scheme: ``http`` or ``https``.
        host: The host name (for the Host header, SNI and certificate checks).
        port: The port.
        address: The checked IP address to connect to.
        request_uri: The path and query to request.
    """

    scheme: str
    host: str
    port: int
    address: str
    request_uri: str


@attrs.frozen(kw_only=True)
class UrlPolicy:
    """What URLs from untrusted requests may reach.

    Attributes:
        allow_private: Allow private, loopback and link-local addresses (``--allow-private-urls``).
        allowlist: If not empty, only URLs whose host is listed (``host`` or ``*.domain``) or that
            start with a listed URL prefix (``https://models.example.com/public/``) are allowed.
    """

    allow_private: bool = False
    allowlist: tuple[str, ...] = ()

    def check(self, url: str, *, resolve: bool = True) -> ResolvedTarget | None:
        """Check a URL; resolve its host and check every address it resolves to.

        Args:
            url: The URL to check.
            resolve: Also resolve the host and check its addresses.

        Returns:
            Where to connect (None when ``resolve`` is false).

        Raises:
            InvalidRequest: The URL is not allowed (400).
        """
        shown = redact_url(url)
        if any(char in url for char in "\\\x00\r\n\t "):
            raise InvalidRequest(f"download_url {shown!r} contains a backslash or whitespace")
        try:
            parsed = urllib3.util.parse_url(url)
        except urllib3.exceptions.LocationParseError as exc:
            raise InvalidRequest(f"download_url is not a valid URL: {exc}") from None
        scheme = (parsed.scheme or "").lower()
        if scheme not in {"http", "https"}:
            raise InvalidRequest("download_url must be an http or https URL")
        host = (parsed.host or "").strip("[]").lower()
        if not host:
            raise InvalidRequest("download_url has no host")
        if self.allowlist and not self._listed(url, host):
            raise InvalidRequest(f"download_url {shown!r} is not on the server's allowlist")
        if not resolve:
            return None
        port = parsed.port or (443 if scheme == "https" else 80)
        address = self._resolve(host, port, shown)
        return ResolvedTarget(
            scheme=scheme,
            host=host,
            port=port,
            address=address,
            request_uri=parsed.request_uri,
        )

    def _listed(self, url: str, host: str) -> bool:
        for entry in self.allowlist:
            if "://" in entry:
                if url.startswith(entry):
                    return True
            elif entry.startswith("*."):
                if host.endswith(entry[1:]):
                    return True
            elif host == entry.lower():
                return True
        return False

    def _resolve(self, host: str, port: int, shown: str) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise InvalidRequest(f"download_url host {host!r} cannot be resolved: {exc}") from None
        addresses = []
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]
            address = ipaddress.ip_address(raw)
            if not self.allow_private and not is_public_address(address):
                raise InvalidRequest(
                    f"download_url {shown!r} resolves to a non-public address ({address}); "
                    "the server refuses private, loopback and link-local targets",
                )
            addresses.append(str(address))
        if not addresses:
            raise InvalidRequest(f"download_url host {host!r} has no address")
        return addresses[0]
