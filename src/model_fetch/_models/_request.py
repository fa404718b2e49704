"""The request and its options, with the one table of option defaults and caps.

Each field of :class:`DownloadOptions` is one row of the table: its default, and its caps as
``"wire"`` metadata. The library's validators read the caps from there, the CLI's help shows
them, and the REST schema (``OptionsBody``) is generated from the same fields, so a value the
library refuses is a 400 over REST and nothing else is.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from model_fetch._contract import body, render, wire, wire_of
from model_fetch._models._signature import SIGNATURE_POLICIES, SignaturePolicy
from model_fetch._paths import ModelName, Version, validate_name, validate_version
from model_fetch.checksums import Checksum, parse_checksum
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    from attrs import AttrsInstance

    from model_fetch._contract import Wire

__all__ = [
    "DEDUPE",
    "DEFAULT_CONNECTIONS",
    "DEFAULT_MIN_RATE",
    "DEFAULT_PARALLEL_MIN_SIZE",
    "DownloadOptions",
    "DownloadRequest",
    "IfExists",
    "dedupe_key",
]

DEFAULT_CONNECTIONS: Final = 1
#: Files at least this large may be split over ``connections`` (64 MiB).
DEFAULT_PARALLEL_MIN_SIZE: Final = 64 * 1024 * 1024
IfExists = Literal["reuse", "error"]

#: Field metadata key of the dedupe rule: ``metadata={DEDUPE: False}`` marks a field that cannot
#: change a job's outcome (which bytes are installed, how, and whether the download fails), so
#: requests differing only there share one job. Every other field is part of :func:`dedupe_key`.
DEDUPE: Final = "dedupe"


def dedupe_key(value: AttrsInstance) -> tuple[Any, ...]:
    """The fields of an attrs value that change a job's outcome, nested values included.

    Derived from the fields themselves, so a new field joins the key unless it is marked
    ``metadata={"dedupe": False}``.
    """
    return tuple(
        (field.name, dedupe_key(item) if attrs.has(type(item)) else item)
        for field in attrs.fields(type(value))
        if field.metadata.get(DEDUPE, True)
        for item in (getattr(value, field.name),)
    )


#: The caps. They bound what one request may hold on to (a worker, memory, a connection) and
#: are the same for every caller; see docs/decisions.md ("One table of option caps").
_MAX_CHUNK_SIZE: Final = 16 * 1024 * 1024
_MAX_TIMEOUT: Final = 3600
_MAX_RETRIES: Final = 10
_MAX_CONNECTIONS: Final = 16
_MAX_PATTERNS: Final = 64
_MAX_PATTERN_LENGTH: Final = 256
#: One day: the longest one file's transfer may take, and the default.
_MAX_DEADLINE: Final = 86400
DEFAULT_MIN_RATE: Final = 1024
_MAX_MIN_RATE: Final = 1 << 30


def _range(rule: Wire) -> str:
    if rule.gt is not None:
        return f"above {rule.gt} and at most {rule.le}"
    return f"between {rule.ge} and {rule.le}"


def _check_range(name: str, value: float, rule: Wire) -> None:
    within = (
        (rule.ge is None or value >= rule.ge)
        and (rule.gt is None or value > rule.gt)
        and (rule.le is None or value <= rule.le)
    )  # written so that NaN is never within
    if not within:
        raise InvalidRequest(f"options.{name} must be {_range(rule)}, not {value}")


def _integer(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"options.{field.name} must be an integer")
    _check_range(field.name, value, wire_of(field))


def _number(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"options.{field.name} must be a number")
    _check_range(field.name, value, wire_of(field))


def _boolean(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidRequest(f"options.{field.name} must be true or false")


def _patterns(_: object, field: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    rule = wire_of(field)
    longest = rule.item_length or 0
    if not all(isinstance(item, str) and 0 < len(item) <= longest for item in value):
        raise InvalidRequest(
            f"options.{field.name} must be a list of non-empty glob strings of at most "
            f"{longest} characters"
        )
    fewest, most = rule.min_items or 0, rule.max_items or 0
    if not fewest <= len(value) <= most:
        raise InvalidRequest(f"options.{field.name} must list {fewest} to {most} globs")


def _policy(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value not in SIGNATURE_POLICIES:
        choices = ", ".join(repr(policy) for policy in SIGNATURE_POLICIES)
        raise InvalidRequest(f"options.{field.name} must be one of {choices}, not {value!r}")


def _to_patterns(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    raise InvalidRequest("file patterns must be a list of glob strings")


@body(
    "OptionsBody",
    "The contract's ``options`` object, plus model_fetch's file patterns.",
    request=True,
)
@attrs.frozen(kw_only=True)
class DownloadOptions:
    """The contract's advanced options, with its defaults.

    Attributes:
        chunk_size: Progress granularity in bytes (1 to 16 MiB), and a lower bound on the read
            buffer. The engine reads in buffers of ``max(chunk_size, 256 KiB)``; a progress
            snapshot is emitted after at least ``chunk_size`` new bytes and at most ten times a
            second.
        timeout: Seconds (above 0, at most 3600) for connecting, for each read, and for the
            stall guard: if less than 1 KiB arrives in any ``timeout``-second window, the
            attempt is aborted.
        retry_count: Retries after the first attempt (0 to 10), with exponential backoff and
            jitter, on connection errors, 5xx and 429 (honouring Retry-After). Other 4xx are
            not retried.
        verify_ssl: Whether to verify TLS certificates.
        extract_after_download: Extract archives after download (takes effect with installers).
        cleanup_temp_files: Remove temporary and staging files after the install.
        allow_patterns: model_fetch extra: install only files matching one of these globs
            (``fnmatch``; ``*`` matches across ``/``), as huggingface_hub's snapshot_download.
            1 to 64 globs of at most 256 characters each.
        ignore_patterns: model_fetch extra: skip files matching one of these globs (at most 64).
        connections: model_fetch extra: parallel connections for a large file (64 MiB or more)
            on a server that supports ranges (1 to 16). 1 by default: as polite to a CDN as
            huggingface_hub and curl, and on a fast link one stream is faster (measured: 452
            against 367 MB/s over loopback). Raise it (4 to 8) for servers that cap each
            connection.
        parallel_min_size: model_fetch extra: the smallest file, in bytes, that is split over
            several connections (64 MiB by default; at least 1 MiB). Smaller files gain little
            from splitting: each range costs a request and a round trip.
        deadline: model_fetch extra: seconds one file's transfer may take, every attempt and
            backoff included (above 0, at most 86400, the default); then it fails (500) and
            its partial stays for a later resume.
        min_rate: model_fetch extra: the slowest sustained rate, in bytes per second (1 to
            1 GiB/s; 1024 by default), averaged over each 30 s window of an attempt. A slower
            window ends the attempt, which is retried (and resumed) like a dropped connection.
        allow_torchscript: model_fetch extra (library and CLI only): let the readiness check
            load TorchScript archives with ``torch.jit.load``, which runs their code.
        accept_files: model_fetch extra (library and CLI only): files you trust although they
            hold pickles that would run code when loaded (names or globs such as
            ``training_args.bin``); the readiness check neither scans nor loads them.
        signature: model_fetch extra: ``required`` (an unsigned or badly signed model is never
            installed), ``if-present`` (the default: a present signature is verified, a bad one
            fails; its absence is recorded) or ``off``. The signing configuration may require
            more for a source or name pattern; a request can tighten it, never loosen it (see
            docs/signing.md).
    """

    # Progress granularity and a floor on the read buffer: timing, not outcome.
    chunk_size: int = attrs.field(
        default=8192,
        validator=_integer,
        metadata={**wire(ge=1, le=_MAX_CHUNK_SIZE), DEDUPE: False},
    )
    timeout: float = attrs.field(
        default=300, validator=_number, metadata=wire(gt=0, le=_MAX_TIMEOUT)
    )
    retry_count: int = attrs.field(
        default=3, validator=_integer, metadata=wire(ge=0, le=_MAX_RETRIES)
    )
    verify_ssl: bool = attrs.field(default=True, validator=_boolean)
    extract_after_download: bool = attrs.field(default=True, validator=_boolean)
    cleanup_temp_files: bool = attrs.field(default=True, validator=_boolean)
    allow_patterns: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_to_patterns,
        validator=_patterns,
        metadata=wire(
            omit="none", min_items=1, max_items=_MAX_PATTERNS, item_length=_MAX_PATTERN_LENGTH
        ),
    )
    ignore_patterns: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_to_patterns,
        validator=_patterns,
        metadata=wire(omit="none", max_items=_MAX_PATTERNS, item_length=_MAX_PATTERN_LENGTH),
    )
    connections: int = attrs.field(
        default=DEFAULT_CONNECTIONS,
        validator=_integer,
        metadata=wire(omit="default", ge=1, le=_MAX_CONNECTIONS),
    )
    parallel_min_size: int = attrs.field(
        default=DEFAULT_PARALLEL_MIN_SIZE,
        validator=_integer,
        metadata=wire(omit="default", ge=1 << 20, le=1 << 50),
    )
    deadline: float = attrs.field(
        default=_MAX_DEADLINE,
        validator=_number,
        metadata=wire(omit="default", gt=0, le=_MAX_DEADLINE),
    )
    min_rate: int = attrs.field(
        default=DEFAULT_MIN_RATE,
        validator=_integer,
        metadata=wire(omit="default", ge=1, le=_MAX_MIN_RATE),
    )
    allow_torchscript: bool = attrs.field(
        default=False, validator=_boolean, metadata=wire(omit="default", rest=False)
    )
    accept_files: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_to_patterns,
        validator=_patterns,
        metadata=wire(
            omit="none", rest=False, max_items=_MAX_PATTERNS, item_length=_MAX_PATTERN_LENGTH
        ),
    )
    signature: SignaturePolicy = attrs.field(
        default="if-present", validator=_policy, metadata=wire(omit="default")
    )

    def selects(self, path: str) -> bool:
        """Tell whether a file path passes ``allow_patterns`` and ``ignore_patterns``."""
        if self.allow_patterns is not None and not any(
            fnmatch.fnmatchcase(path, pattern) for pattern in self.allow_patterns
        ):
            return False
        return not (
            self.ignore_patterns is not None
            and any(fnmatch.fnmatchcase(path, pattern) for pattern in self.ignore_patterns)
        )

    @classmethod
    def from_mapping(cls, options: DownloadOptions | dict[str, Any] | None) -> DownloadOptions:
        """Build options from a JSON-like mapping, refusing unknown keys.

        Raises:
            InvalidRequest: An unknown key, or a value of the wrong type or range.
        """
        if options is None:
            return cls()
        if isinstance(options, DownloadOptions):
            return options
        if not isinstance(options, dict):
            raise InvalidRequest("options must be an object")
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise InvalidRequest(f"Unknown option(s) {names}; known: {', '.join(sorted(known))}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as JSON: the contract's keys, plus model_fetch's extras when set."""
        return render(self)


def _to_options(value: DownloadOptions | dict[str, Any] | None) -> DownloadOptions:
    return DownloadOptions.from_mapping(value)


def _validate_metadata(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise InvalidRequest("metadata must be an object with string keys")


@attrs.frozen(kw_only=True)
class DownloadRequest:
    """A validated download request: the contract's request body.

    Attributes:
        model_name: The model's name (``name`` or ``org/name``).
        version: The version asked for (``latest`` by default).
        download_url: A direct URL that overrides the repository lookup, whatever ``source`` says.
        source: The source plugin that resolves the request.
        checksum: The expected digest of the (single) file, if given.
        force_download: Re-download even if the version is installed.
        if_exists: ``reuse`` returns an installed version at once; ``error`` raises ModelExists
            (library and CLI only: over REST it is always ``error``).
        options: The advanced options.
        metadata: Free-form metadata stored in the install record.
    """

    model_name: ModelName = attrs.field(converter=validate_name)
    version: Version = attrs.field(default=Version("latest"), converter=validate_version)
    download_url: str | None = None
    source: str = "default"
    checksum: Checksum | None = attrs.field(default=None, converter=parse_checksum)
    force_download: bool = False
    # Judged at submission (an installed version is refused up front); while a job is in flight
    # the version is not installed, so "reuse" and "error" submissions get the same outcome.
    if_exists: IfExists = attrs.field(default="reuse", metadata={**wire(rest=False), DEDUPE: False})
    options: DownloadOptions = attrs.field(
        factory=DownloadOptions,
        converter=_to_options,
    )
    metadata: dict[str, Any] = attrs.field(
        factory=dict, validator=_validate_metadata, metadata={DEDUPE: False}
    )

    def __attrs_post_init__(self) -> None:
        """Check the fields that have no converter."""
        if self.download_url is not None and (
            not isinstance(self.download_url, str) or not self.download_url.strip()
        ):
            raise InvalidRequest("download_url must be a non-empty string")
        if not isinstance(self.source, str) or not self.source:
            raise InvalidRequest("source must be a non-empty string")
        if not isinstance(self.force_download, bool):
            raise InvalidRequest("force_download must be true or false")
        if self.if_exists not in ("reuse", "error"):
            raise InvalidRequest("if_exists must be 'reuse' or 'error'")

    @property
    def effective_source(self) -> str:
        """The source that resolves this request: ``url`` whenever ``download_url`` is given."""
        return "url" if self.download_url else self.source
