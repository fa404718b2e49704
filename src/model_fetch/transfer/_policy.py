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
from typing import Final, NamedTuple
from urllib.parse import unquote

import attrs
import urllib3

from model_fetch._log import get_logger, redact_url
from model_fetch.exceptions import InvalidRequest

__all__ = ["ResolvedTarget", "UrlPolicy", "is_public_address", "normalise_url"]

_NAT64_LOCAL: Final = ipaddress.IPv6Network("64:ff9b:1::/48")
# ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765).
# NAT64 (64:ff9b::/96) carries its IPv4 address in the low 32 bits too.
_CARRY_IPV4_LOW: Final = tuple(
    ipaddress.IPv6Network(network) for network in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
_SITE_LOCAL: Final = ipaddress.IPv6Network("fec0::/10")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

log = get_logger(__name__)

#: What a caller is told when a URL (or a redirect hop) fails on where it leads. The same words
#: whether the name did not resolve or resolved to a private address, and without the hop's URL
#: or the address, so the answers do not tell a remote caller how internal names resolve. The
#: detail goes to the server's log.
UNREACHABLE: Final = (
    "download_url is refused: it (or a redirect it leads to) names a host this server does not "
    "fetch from (unresolvable, private, loopback or link-local); the server log has the detail"
)
NOT_LISTED: Final = (
    "download_url is refused: it (or a redirect it leads to) is not on the server's allowlist"
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if it is one of the forms that carry one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _CARRY_IPV4_LOW):
        # :: and ::1 land here too: 0.0.0.0 and 0.0.0.1 are not public either.
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is globally routable, looking through IPv6 wrappers of IPv4.

    IPv4-mapped (``::ffff:127.0.0.1``), IPv4-compatible (``::127.0.0.1``), IPv4-translated
    (``::ffff:0:127.0.0.1``), 6to4 (``2002::/16``), Teredo and NAT64 (``64:ff9b::/96``)
    addresses are judged by the IPv4 address they carry; site-local ``fec0::/10`` and local
    NAT64 ``64:ff9b:1::/48`` are private.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address in _NAT64_LOCAL or address in _SITE_LOCAL:
            return False
    return bool(address.is_global) and not address.is_multicast


class NormalUrl(NamedTuple):
    """A URL as the allow-list compares it: what the origin will be asked for."""

    scheme: str
    host: str
    port: int
    path: str


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 on a path's segments (the path starts with ``/``)."""
    kept: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif segment == ".":
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/" + "/".join(kept)


def normalise_url(url: str) -> NormalUrl:
    """Parse a URL as urllib3 connects to it and normalise it for comparison.

    The scheme and host are case-folded, the port is filled in, and the path is percent-decoded
    (until it no longer changes, so ``%252e`` counts as a dot too) before its dot segments are
    resolved: an origin that decodes ``%2e%2e`` or ``%2f`` itself then cannot be steered outside
    an allowed prefix. The decoded path is for comparison only; the request keeps the original.

    Raises:
        InvalidRequest: The URL cannot be parsed, or is not http(s) with a host.
    """
    try:
        parsed = urllib3.util.parse_url(url)
    except urllib3.exceptions.LocationParseError as exc:
        raise InvalidRequest(f"download_url is not a valid URL: {exc}") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidRequest("download_url must be an http or https URL")
    host = (parsed.host or "").strip("[]").lower()
    if not host:
        raise InvalidRequest("download_url has no host")
    path = parsed.path or "/"
    for _ in range(8):
        decoded = unquote(path, errors="surrogateescape")
        if decoded == path:
            break
        path = decoded
    path = _remove_dot_segments("/" + path.lstrip("/"))
    return NormalUrl(scheme, host, parsed.port or _DEFAULT_PORTS[scheme], path)


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or lies under it, at a path-segment boundary."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def _entry(value: str) -> str | NormalUrl:
    """An allow-list entry: a case-folded host or ``*.domain``, or a normalised URL prefix."""
    if "://" in value:
        return normalise_url(value)
    return value.strip().lower()


def _entries(values: tuple[str, ...] | list[str]) -> tuple[str | NormalUrl, ...]:
    return tuple(_entry(value) for value in values)


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
            lie under a listed URL prefix (``https://models.example.com/public/``) are allowed.
            Entries and URLs are compared normalised (see :func:`normalise_url`), on every
            redirect hop; a prefix matches at a path-segment boundary (``/public`` allows
            ``/public`` and ``/public/x``, not ``/publicity``).
    """

    allow_private: bool = False
    allowlist: tuple[str | NormalUrl, ...] = attrs.field(default=(), converter=_entries)

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
        normal = normalise_url(url)
        if self.allowlist and not self._listed(normal):
            log.warning("Refused %s: not on the allowlist", shown)
            raise InvalidRequest(NOT_LISTED)
        if not resolve:
            return None
        address = self._resolve(normal.host, normal.port, shown)
        return ResolvedTarget(
            scheme=normal.scheme,
            host=normal.host,
            port=normal.port,
            address=address,
            request_uri=urllib3.util.parse_url(url).request_uri,
        )

    def _listed(self, url: NormalUrl) -> bool:
        for entry in self.allowlist:
            if isinstance(entry, NormalUrl):
                if url[:3] == entry[:3] and _under(url.path, entry.path):
                    return True
            elif entry.startswith("*."):
                if url.host.endswith(entry[1:]):
                    return True
            elif url.host == entry:
                return True
        return False

    def _resolve(self, host: str, port: int, shown: str) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            log.warning("Refused %s: host %r cannot be resolved: %s", shown, host, exc)
            raise InvalidRequest(UNREACHABLE) from None
        addresses = []
        for info in infos:
            raw = str(info[4][0]).split("%", 1)[0]
            address = ipaddress.ip_address(raw)
            if not self.allow_private and not is_public_address(address):
                log.warning("Refused %s: it resolves to a non-public address (%s)", shown, address)
                raise InvalidRequest(UNREACHABLE)
            addresses.append(str(address))
        if not addresses:
            log.warning("Refused %s: host %r has no address", shown, host)
            raise InvalidRequest(UNREACHABLE)
        return addresses[0]
