"""One settings object, read at call time.

Precedence is always: explicit argument, then environment variable, then default. Nothing is read
at import time, so changing ``os.environ`` before building a :class:`~model_fetch.Downloader` takes
effect (huggingface_hub's import-time reading is a known trap we do not repeat).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ENVIRONMENT_VARIABLES", "MirrorConfig", "Settings", "parse_size"]

#: Every environment variable model_fetch reads, with its default and meaning (docs render this).
ENVIRONMENT_VARIABLES: Final[dict[str, tuple[str, str]]] = {
    "MODEL_FETCH_HOME": (
        "the user cache directory (platformdirs), e.g. ~/.cache/model_fetch",
        (
            "Root of the model store: a local path or any fsspec URL (s3://bucket/models), or "
            "hf-cache for the Hugging Face cache."
        ),
    ),
    "MODEL_FETCH_OFFLINE": (
        "unset (online)",
        (
            "1/true/yes/on: serve installed models only; anything that needs the network fails "
            "with OfflineModeError naming this variable."
        ),
    ),
    "HF_HUB_OFFLINE": (
        "unset (online)",
        "huggingface_hub's offline switch, honoured exactly like MODEL_FETCH_OFFLINE.",
    ),
    "MODEL_FETCH_LOCK_TIMEOUT": (
        "3600",
        "Seconds to wait for another thread or process downloading the same (name, version).",
    ),
    "MODEL_FETCH_MAX_STORE_SIZE": (
        "unset (no quota)",
        (
            "A quota for the store, in bytes or with a unit (500MiB, 20GB). Downloads that would "
            "exceed it fail with InsufficientStorage (413)."
        ),
    ),
    "MODEL_FETCH_STAGING": (
        "<user cache>/remote-stores",
        (
            "Local directory where downloads to an object store (s3://...) are staged and "
            "verified before upload; the 413 preflight and cache-info's free space refer to it."
        ),
    ),
    "MODEL_FETCH_LEASE_TTL": (
        "60",
        (
            "Seconds a lease on an object store or mirror lives without renewal before another "
            "node may take it over; also how long a replaced generation is kept for readers."
        ),
    ),
    "MODEL_FETCH_MIRROR": (
        "unset (no mirror)",
        (
            "A fleet mirror (fsspec URL, e.g. s3://bucket/mirror) consulted between the store "
            "and the origin; see docs/mirror.md."
        ),
    ),
    "MODEL_FETCH_REPOSITORY": (
        "the index that ships with model_fetch (well-known public models)",
        "The model repository index (JSON) for source 'default': an http(s) or fsspec URL.",
    ),
    "MODEL_FETCH_LOCAL_REGISTRY": (
        "unset (the 'local' source is unavailable)",
        (
            "Root of the local registry for source 'local': a path or fsspec URL laid out as "
            "<name>/<version>/files."
        ),
    ),
    "HF_HUB_CACHE / HF_HOME": (
        "$HF_HOME/hub; HF_HOME is ~/.cache/huggingface",
        "The Hugging Face cache a hf-cache store uses (resolved as huggingface_hub does).",
    ),
    "HF_HUB_DISABLE_SYMLINKS": (
        "unset (symlinks)",
        "In a hf-cache store, put files in the snapshot instead of linking them to blobs.",
    ),
    "HF_ENDPOINT / HF_TOKEN": (
        "https://huggingface.co / unset",
        "The Hugging Face Hub to use and the token sent to it (only to its own origin).",
    ),
    "MODEL_FETCH_SIGNATURE": (
        "unset (each request's own signature policy, if-present by default)",
        "The least signature policy of every download: required, if-present or off.",
    ),
    "MODEL_FETCH_SIGNING_CONFIG": (
        "unset (no signing rules)",
        "A JSON file of signing rules per source and name pattern (docs/signing.md).",
    ),
    "MODEL_FETCH_SIGNING_KEY": (
        "unset (no key)",
        "A PEM public key that verifies every model no signing rule matches.",
    ),
    "MODEL_FETCH_API_TOKEN": (
        "unset (no token)",
        "A bearer token `model-fetch serve` requires on every route but /health.",
    ),
    "HTTPS_PROXY / HTTP_PROXY / NO_PROXY": (
        "unset",
        "Proxies for http(s) downloads, as curl and requests read them (lower case works too).",
    ),
    "SSL_CERT_FILE / REQUESTS_CA_BUNDLE": (
        "the system trust store",
        "A CA bundle to verify https servers with.",
    ),
    "NETRC": (
        "~/.netrc",
        "Where to find per-host credentials for http(s) downloads.",
    ),
}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "B": 1,
    "K": 1000,
    "KB": 1000,
    "KIB": 1024,
    "KI": 1024,
    "M": 1000**2,
    "MB": 1000**2,
    "MIB": 1024**2,
    "MI": 1024**2,
    "G": 1000**3,
    "GB": 1000**3,
    "GIB": 1024**3,
    "GI": 1024**3,
    "T": 1000**4,
    "TB": 1000**4,
    "TIB": 1024**4,
    "TI": 1024**4,
}


def parse_size(text: str) -> int:
    """Parse a size such as ``1048576``, ``500MiB`` or ``20GB`` into bytes.

    Raises:
        InvalidRequest: The text is not a size.
    """
    match = _SIZE.match(text)
    if not match:
        raise InvalidRequest(f"Not a size: {text!r} (write e.g. 1048576, 500MiB or 20GB)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").upper()])


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidRequest(f"{name}={value!r} is not a boolean (use 1 or 0)")


def _number(environ: Mapping[str, str], name: str, default: str, given: float | None) -> float:
    if given is not None:
        return given
    raw = environ.get(name, default)
    try:
        return float(raw)
    except ValueError:
        raise InvalidRequest(f"{name}={raw!r} is not a number") from None


def default_home() -> str:
    """Return the default store root: the user cache directory for model_fetch."""
    import platformdirs  # noqa: PLC0415 - only needed when no root is configured

    return platformdirs.user_cache_dir("model_fetch", appauthor=False)


@attrs.frozen
class MirrorConfig:
    """A fleet mirror and how to use it (``Downloader(mirror=...)``; see docs/mirror.md).

    Attributes:
        url: The mirror's root, an fsspec URL such as ``s3://bucket/mirror``; None reads
            ``MODEL_FETCH_MIRROR`` (and without it there is no mirror).
        storage_options: Options for the mirror's fsspec filesystem (credentials, endpoint).
        required: An unreachable mirror fails the download (StoreUnavailable) instead of a
            warning and the origin (``--mirror-required``).
        read_only: Use the mirror without ever writing to it (``--mirror-read-only``).
        publish_private: Also publish downloads that needed credentials: a gated Hugging Face
            repository, a URL with userinfo, a netrc host (``--mirror-publish-private``).
    """

    url: str | None = None
    storage_options: dict[str, Any] | None = attrs.field(default=None, kw_only=True)
    required: bool = attrs.field(default=False, kw_only=True)
    read_only: bool = attrs.field(default=False, kw_only=True)
    publish_private: bool = attrs.field(default=False, kw_only=True)


@attrs.frozen(kw_only=True)
class Settings:
    """Configuration shared by a :class:`~model_fetch.Downloader` and its parts.

    Attributes:
        home: The store root (a local path or an fsspec URL).
        offline: Whether only installed models may be served.
        offline_variable: What turned offline mode on (an environment variable or ``offline=``).
        lock_timeout: Seconds to wait for a concurrent download of the same version.
        max_store_bytes: A quota on the store's size, or None.
        repository: The repository index URL or path, or None for the built-in index.
        local_registry: The local registry root, or None.
        staging: The local staging root for object stores, or None for the default.
        lease_ttl: Seconds a lease lives without renewal.
        mirror: The fleet mirror's URL, or None.
        max_unknown_size: The most bytes a file that arrives without a size (no
            ``Content-Length``, no size in the plan) may have, or None for no limit
            (``MODEL_FETCH_MAX_UNKNOWN_SIZE``); a server sets it so that one hostile URL cannot
            fill its disk.
    """

    home: str
    offline: bool = False
    offline_variable: str | None = None
    lock_timeout: float = 3600.0
    max_store_bytes: int | None = None
    repository: str | None = None
    local_registry: str | None = None
    staging: str | None = None
    lease_ttl: float = 60.0
    mirror: str | None = None
    max_unknown_size: int | None = None

    @classmethod
    def load(
        cls,
        *,
        home: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        lock_timeout: float | None = None,
        max_store_bytes: int | None = None,
        repository: str | os.PathLike[str] | None = None,
        local_registry: str | os.PathLike[str] | None = None,
        mirror: str | None = None,
        lease_ttl: float | None = None,
        max_unknown_size: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Build settings from arguments, then the environment, then defaults.

        Args:
            home: The store root; overrides ``MODEL_FETCH_HOME``.
            offline: Offline mode; overrides ``MODEL_FETCH_OFFLINE`` and ``HF_HUB_OFFLINE``.
            lock_timeout: Overrides ``MODEL_FETCH_LOCK_TIMEOUT``.
            max_store_bytes: Overrides ``MODEL_FETCH_MAX_STORE_SIZE``.
            repository: Overrides ``MODEL_FETCH_REPOSITORY``.
            local_registry: Overrides ``MODEL_FETCH_LOCAL_REGISTRY``.
            mirror: Overrides ``MODEL_FETCH_MIRROR``.
            lease_ttl: Overrides ``MODEL_FETCH_LEASE_TTL``.
            max_unknown_size: Overrides ``MODEL_FETCH_MAX_UNKNOWN_SIZE``.
            environ: The environment to read (``os.environ`` by default).

        Raises:
            InvalidRequest: An environment variable holds a value of the wrong kind.
        """
        env = os.environ if environ is None else environ
        root = (
            os.fspath(home) if home is not None else env.get("MODEL_FETCH_HOME") or default_home()
        )
        offline_variable: str | None = None
        if offline is None:
            for name in ("MODEL_FETCH_OFFLINE", "HF_HUB_OFFLINE"):
                if _flag(env, name):
                    offline_variable = name
                    break
            offline = offline_variable is not None
        elif offline:
            offline_variable = "offline=True"
        lock_timeout = _number(env, "MODEL_FETCH_LOCK_TIMEOUT", "3600", lock_timeout)
        lease_ttl = _number(env, "MODEL_FETCH_LEASE_TTL", "60", lease_ttl)
        if not lease_ttl > 0:
            raise InvalidRequest("the lease TTL must be a positive number of seconds")
        if max_store_bytes is None and env.get("MODEL_FETCH_MAX_STORE_SIZE"):
            max_store_bytes = parse_size(env["MODEL_FETCH_MAX_STORE_SIZE"])
        if max_unknown_size is None and env.get("MODEL_FETCH_MAX_UNKNOWN_SIZE"):
            max_unknown_size = parse_size(env["MODEL_FETCH_MAX_UNKNOWN_SIZE"])
        if repository is None:
            repository = env.get("MODEL_FETCH_REPOSITORY") or None
        if local_registry is None:
            local_registry = env.get("MODEL_FETCH_LOCAL_REGISTRY") or None
        return cls(
            repository=os.fspath(repository) if repository is not None else None,
            local_registry=os.fspath(local_registry) if local_registry is not None else None,
            home=root,
            offline=offline,
            offline_variable=offline_variable,
            lock_timeout=lock_timeout,
            max_store_bytes=max_store_bytes,
            staging=env.get("MODEL_FETCH_STAGING") or None,
            lease_ttl=lease_ttl,
            mirror=mirror if mirror is not None else env.get("MODEL_FETCH_MIRROR") or None,
            max_unknown_size=max_unknown_size,
        )
