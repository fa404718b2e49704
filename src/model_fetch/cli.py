"""The ``model-fetch`` command: parse, call :class:`~model_fetch.Downloader`, render.

Exit codes: 0 success, 1 download or verification failure, 2 bad input (including an invalid
name or an unknown source), 3 not found, 4 already exists (or a download in progress),
5 insufficient storage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Final

import attrs

from model_fetch import __version__
from model_fetch._contract import iso_timestamp, wire_of
from model_fetch._models import DownloadOptions, ModelListing, PruneReport
from model_fetch.exceptions import InvalidRequest, ModelFetchError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from model_fetch._downloader import Downloader
    from model_fetch._models import Progress

__all__ = ["EXIT_CODES", "build_parser", "main"]

EXIT_CODES: Final[dict[int, str]] = {
    0: "success",
    1: "download or verification failure, or the store or mirror is unavailable",
    2: "bad input, including an invalid name or an unknown source",
    3: "not found",
    4: "already exists, or a download of it is in progress",
    5: "insufficient storage",
    130: "interrupted (Ctrl-C)",
}


def _exit_code_help() -> str:
    lines = [f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items()]
    return "exit codes:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (the CLI reference in the docs is generated from it)."""
    parser = argparse.ArgumentParser(
        prog="model-fetch",
        description="Download, verify and install models; list, inspect and remove them.",
        epilog=_exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store",
        metavar="PATH|URL",
        help="store root: a path or fsspec URL (default: $MODEL_FETCH_HOME, else the user cache)",
    )
    _add_mirror_options(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="log errors only, no progress bar"
    )
    parser.add_argument("--version", action="version", version=f"model-fetch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_commands(commands)
    _add_mirror(commands)
    _add_serve(commands)
    return parser


def _add_mirror_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="fleet mirror consulted between the store and the origin (default: "
        "$MODEL_FETCH_MIRROR)",
    )
    parser.add_argument(
        "--mirror-required",
        action="store_true",
        help="fail (exit 1) when the mirror cannot be reached, instead of a warning",
    )
    parser.add_argument(
        "--mirror-read-only", action="store_true", help="use the mirror, never write to it"
    )
    parser.add_argument(
        "--mirror-publish-private",
        action="store_true",
        help="also publish downloads that needed credentials (gated repos, netrc hosts)",
    )


def _add_commands(commands: Any) -> None:
    download = commands.add_parser(
        "download",
        help="download, verify and install a model",
        description="Download, verify and install a model into the store.",
        epilog=_exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    download.add_argument("name", metavar="NAME", help="model name (name or org/name)")
    download.add_argument("--version", dest="model_version", default="latest", metavar="V")
    download.add_argument("--url", metavar="URL", help="direct download URL (overrides the source)")
    download.add_argument("--source", default="default", metavar="S", help="source name")
    download.add_argument("--checksum", metavar="C", help="expected digest, algo:hex")
    download.add_argument("--force", action="store_true", help="download again even if installed")
    download.add_argument(
        "--if-exists",
        choices=("error", "reuse"),
        default="error",
        help="when already installed: fail with exit 4 (default) or reuse it",
    )
    _add_option_flags(download)
    download.add_argument("--no-verify-ssl", action="store_true", help="skip TLS verification")
    download.add_argument("--no-extract", action="store_true", help="do not extract archives")
    download.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep temporary files (a downloaded archive stays beside its extracted files)",
    )
    download.add_argument(
        "--allow-torchscript",
        action="store_true",
        help="let the readiness check load TorchScript (this runs the model's code)",
    )
    download.add_argument("--metadata", metavar="JSON", help="a JSON object kept with the model")
    download.add_argument("--json", action="store_true", help="print the result as JSON")

    listing = commands.add_parser("list", help="list installed models")
    listing.add_argument("--json", action="store_true", help="print GET /models JSON")

    info = commands.add_parser("info", help="show one installed model")
    info.add_argument("name", metavar="NAME")
    info.add_argument("--version", dest="model_version", metavar="V", help="default: newest")
    info.add_argument("--json", action="store_true", help="print GET /model-info JSON")

    remove = commands.add_parser("remove", help="remove installed versions")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument(
        "--version",
        dest="model_version",
        default="all",
        metavar="V",
        help="a version, 'latest' or 'all' (default)",
    )
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument("--json", action="store_true", help="print the result as JSON")

    verify = commands.add_parser(
        "verify",
        help="re-check an installed model against its install record",
        description="Re-hash every installed file and compare it with the install record. "
        "Exits 1 when a file is missing or changed.",
    )
    verify.add_argument("name", metavar="NAME")
    verify.add_argument("--version", dest="model_version", metavar="V", help="default: newest")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")

    prune = commands.add_parser(
        "cache-prune",
        help="delete partial downloads; on object stores also leases, orphans, uploads",
        description="Delete the partial files kept to resume interrupted downloads. On an "
        "object store (and the mirror) also clear expired leases, orphaned generations and "
        "abandoned multipart uploads.",
    )
    prune.add_argument(
        "--older-than",
        metavar="AGE",
        help="only those untouched for this long: seconds, or a number with s, m, h or d (7d)",
    )
    prune.add_argument("--json", action="store_true", help="print the result as JSON")

    cache = commands.add_parser("cache-info", help="show the store's size and contents")
    cache.add_argument("--json", action="store_true", help="print GET /cache-info JSON")


#: The download options with a flag of their own: (flag, metavar, help, counts bytes). The
#: default and the caps in each help text come from DownloadOptions, the one table of them.
_OPTION_FLAGS: Final[dict[str, tuple[str, str, str, bool]]] = {
    "chunk_size": ("--chunk-size", "N", "progress granularity in bytes", True),
    "timeout": ("--timeout", "S", "connect/read/stall timeout in seconds", False),
    "retry_count": ("--retries", "N", "retries after the first attempt", False),
    "connections": ("--connections", "N", "parallel connections for a large file", False),
    "parallel_min_size": (
        "--parallel-min-size",
        "BYTES",
        "split files of at least this size over --connections",
        True,
    ),
}
_BINARY_UNITS: Final = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
_KIB: Final = 1024


def _amount(value: float, *, in_bytes: bool) -> str:
    """A number as the help shows it: byte counts in the largest binary unit that is exact."""
    unit = 0
    while in_bytes and value >= _KIB and value % _KIB == 0 and unit < len(_BINARY_UNITS) - 1:
        value, unit = value // _KIB, unit + 1
    return f"{value:g} {_BINARY_UNITS[unit]}" if in_bytes and unit else f"{value:g}"


def _add_option_flags(download: argparse.ArgumentParser) -> None:
    fields = attrs.fields_dict(attrs.resolve_types(DownloadOptions))
    for name, (flag, metavar, text, in_bytes) in _OPTION_FLAGS.items():
        field, rule = fields[name], wire_of(fields[name])
        low, high = (rule.gt if rule.gt is not None else rule.ge) or 0, rule.le or 0
        show = functools.partial(_amount, in_bytes=in_bytes)
        span = f"above {show(low)}, at most" if rule.gt is not None else f"{show(low)} to"
        default = float(field.default or 0)
        download.add_argument(
            flag,
            dest=name,
            type=field.type or int,
            metavar=metavar,
            help=f"{text} (default {show(default)}; {span} {show(high)})",
        )


def _add_mirror(commands: Any) -> None:
    mirror = commands.add_parser(
        "mirror",
        help="publish installed models to the fleet mirror",
        description="Work with the fleet mirror given by --mirror or MODEL_FETCH_MIRROR.",
    )
    mirror_commands = mirror.add_subparsers(dest="mirror_command", required=True, metavar="ACTION")
    push = mirror_commands.add_parser(
        "push",
        help="publish an installed version to the mirror ahead of a rollout",
        description="Upload an installed version's files to the mirror, install record last.",
    )
    push.add_argument("name", metavar="NAME")
    push.add_argument("--version", dest="model_version", metavar="V", help="default: newest")
    push.add_argument("--json", action="store_true", help="print the mirror's record as JSON")


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the REST API (extra 'http')",
        description=(
            "Serve the REST API with uvicorn in one process (jobs live in its memory). Binds "
            "127.0.0.1 by default; a non-loopback address needs a token or "
            "--allow-unauthenticated."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--token", help="bearer token required on every API route")
    serve.add_argument("--token-file", metavar="PATH", help="read the bearer token from a file")
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="allow binding a non-loopback address without a token",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="accept this Host header too (repeatable); loopback names are always accepted "
        "when bound to loopback",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from this origin (scheme://host[:port]) call the API from a browser "
        "(repeatable; '*' is refused); requests from other origins are refused",
    )
    serve.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="let requests download from private, loopback and link-local addresses",
    )
    serve.add_argument(
        "--allow-url",
        action="append",
        default=[],
        metavar="HOST|PREFIX",
        help="only allow download URLs on these hosts (or *.domain) or under these URL "
        "prefixes (repeatable)",
    )
    serve.add_argument(
        "--allow-insecure-tls",
        action="store_true",
        help="let requests ask for verify_ssl: false",
    )
    serve.add_argument(
        "--max-concurrent-downloads",
        type=int,
        default=4,
        metavar="N",
        help="downloads that run at once (default 4); more wait in a queue",
    )
    serve.add_argument(
        "--wait",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds POST /model-download waits before answering 'started' (default 2)",
    )


def render_reference() -> str:
    """Render the CLI reference (docs/cli.md) from the parser itself, so it cannot drift."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = build_parser()
        sections = [
            "# Command-line reference",
            "",
            (
                "Generated from the argument parser (`model_fetch.cli.render_reference()`); a test "
                "keeps this page identical to `model-fetch --help` and each command's `--help`."
            ),
            "",
            "## model-fetch",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        for action in parser._subparsers._group_actions if parser._subparsers else []:  # noqa: SLF001
            for name, sub in getattr(action, "choices", {}).items():
                sections += [
                    "",
                    f"## model-fetch {name}",
                    "",
                    "```text",
                    sub.format_help().rstrip(),
                    "```",
                ]
        return "\n".join(sections) + "\n"
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


class _ProgressBar:
    """A tqdm bar fed by progress snapshots (bytes, speed, ETA and stage)."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm  # noqa: PLC0415 - only the CLI draws bars

        self._bar = tqdm(
            total=None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )
        self._stage = ""

    def __call__(self, snapshot: Progress) -> None:
        if snapshot.total_bytes and self._bar.total != snapshot.total_bytes:
            self._bar.total = snapshot.total_bytes
        self._bar.update(snapshot.downloaded_bytes - self._bar.n)
        stage: str = snapshot.current_stage
        if snapshot.bytes_from is not None:
            stage = f"{stage} from {snapshot.bytes_from}"
        if stage != self._stage:
            self._stage = stage
            self._bar.set_postfix_str(stage)

    def close(self) -> None:
        self._bar.close()


def _download(downloader: Downloader, args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in _OPTION_FLAGS}
    options: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    if args.no_verify_ssl:
        options["verify_ssl"] = False
    if args.no_extract:
        options["extract_after_download"] = False
    if args.keep_temp:
        options["cleanup_temp_files"] = False
    if args.allow_torchscript:
        options["allow_torchscript"] = True
    metadata: dict[str, Any] = {}
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"--metadata is not valid JSON: {exc}") from None
    bar = _ProgressBar(args.name) if sys.stderr.isatty() and not args.quiet else None
    progress: Callable[[Progress], None] | None = bar
    try:
        result = downloader.download(
            args.name,
            args.model_version,
            download_url=args.url,
            source=args.source,
            checksum=args.checksum,
            force_download=args.force,
            if_exists=args.if_exists,
            options=options,
            metadata=metadata,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        _print_json(result.to_dict())
    else:
        verb = "Already installed" if result.reused else "Installed"
        check = "checksum verified" if result.checksum_verified else "no checksum to verify"
        print(f"{verb} {result.model_name} {result.version} ({check})")
        if result.ready_for_inference:
            print(f"Ready for inference ({result.readiness.get('checked')})")
        else:
            print(f"Not ready for inference: {result.readiness.get('reason')}")
        print(result.file_path)
    return 0


def _list(downloader: Downloader, args: argparse.Namespace) -> int:
    models = downloader.list_models()
    if args.json:
        _print_json(ModelListing(models=tuple(models)).to_dict())
        return 0
    if not models:
        print("No models installed.")
        return 0
    rows = [("NAME", "VERSION", "SIZE (MB)", "SOURCE", "INSTALLED")]
    rows += [
        (m.name, m.version, f"{m.size_bytes / 2**20:.1f}", m.source, iso_timestamp(m.installed_at))
        for m in models
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _info(downloader: Downloader, args: argparse.Namespace) -> int:
    info = downloader.info(args.name, args.model_version)
    data = info.to_dict()
    if args.json:
        _print_json(data)
        return 0
    for key in (
        "name",
        "version",
        "versions",
        "model_id",
        "source",
        "download_url",
        "file_path",
        "size_mb",
        "installed_at",
        "checksum_verified",
        "ready_for_inference",
        "readiness",
    ):
        value = data[key]
        print(f"{key + ':':<20}{', '.join(value) if isinstance(value, list) else value}")
    for file in info.files:
        print(f"  {file.path}  {file.size} bytes  sha256:{file.sha256}")
    return 0


def _remove(downloader: Downloader, args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidRequest("refusing to remove without confirmation: pass --yes")
        answer = input(f"Remove {args.name} ({args.model_version})? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing removed.")
            return 0
    result = downloader.remove(args.name, args.model_version)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.message)
        print(f"Freed {result.freed_bytes / 2**20:.1f} MB")
    return 0


def _verify(downloader: Downloader, args: argparse.Namespace) -> int:
    result = downloader.verify(args.name, args.model_version)
    if args.json:
        _print_json(result.to_dict())
    elif result.ok:
        print(f"{result.model_name} {result.version}: {result.checked_files} file(s) intact")
    else:
        print(f"{result.model_name} {result.version}: CORRUPTED", file=sys.stderr)
        for path in result.missing:
            print(f"  missing: {path}", file=sys.stderr)
        for item in result.mismatched:
            print(f"  changed: {item['path']}", file=sys.stderr)
    return 0 if result.ok else 1


_AGE_UNITS: Final[dict[str, float]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_age(text: str) -> float:
    unit = text[-1:].lower()
    number = text[:-1] if unit in _AGE_UNITS else text
    try:
        value = float(number) * _AGE_UNITS.get(unit, 1)
    except ValueError:
        raise InvalidRequest(
            f"--older-than {text!r} is not an age such as 3600, 90m or 7d"
        ) from None
    if value < 0:
        raise InvalidRequest("--older-than must not be negative")
    return value


def _cache_prune(downloader: Downloader, args: argparse.Namespace) -> int:
    older_than = _parse_age(args.older_than) if args.older_than else None
    count, freed = downloader.prune_partials(older_than)
    objects = downloader.prune_objects(older_than)
    if args.json:
        report = PruneReport(removed_partial_downloads=count, freed_bytes=freed, **objects)
        _print_json(report.to_dict())
    else:
        print(f"Removed {count} partial download(s), freed {freed / 2**20:.1f} MB")
        if not downloader.store.local or downloader.mirror is not None:
            print(
                f"Cleared {objects['expired_leases']} expired lease(s), "
                f"{objects['orphaned_generations']} orphaned generation(s), "
                f"{objects['abandoned_uploads']} abandoned upload(s)"
            )
    return 0


def _mirror(downloader: Downloader, args: argparse.Namespace) -> int:
    record = downloader.push(args.name, args.model_version)
    assert downloader.mirror is not None  # noqa: S101 - push raised otherwise
    if args.json:
        _print_json(record.to_json())
    else:
        print(
            f"Published {record.name} {record.version} ({len(record.files)} file(s)) to "
            f"{downloader.mirror.url}"
        )
    return 0


def _cache_info(downloader: Downloader, args: argparse.Namespace) -> int:
    data = downloader.cache_info().to_dict()
    if args.json:
        _print_json(data)
        return 0
    info, models, downloads = data["cache_info"], data["model_cache"], data["download_cache"]
    print(f"Store:      {info['cache_directory']}")
    print(
        f"Capacity:   {info['used_cache_size_mb']} MB used of {info['total_cache_size_mb']} MB "
        f"({info['cache_usage_percentage']}%), {info['available_cache_size_mb']} MB free"
    )
    print(f"Models:     {models['entry_count']} installed, {models['current_size_mb']} MB")
    print(
        f"Downloads:  {downloads['partial_downloads']} partial, {downloads['current_size_mb']} MB"
    )
    return 0


def _read_token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise InvalidRequest(f"cannot read --token-file: {exc}") from None
        if not token:
            raise InvalidRequest("--token-file is empty")
        return token
    return os.environ.get("MODEL_FETCH_API_TOKEN") or None


def _serve(downloader: Downloader, args: argparse.Namespace) -> int:
    try:
        from model_fetch.http import ServerSettings, create_app  # noqa: PLC0415
        from model_fetch.http._serve import serve  # noqa: PLC0415
    except ImportError as exc:
        raise InvalidRequest(
            f"serve needs the http extra: pip install 'model_fetch[http]' ({exc})"
        ) from None
    from model_fetch.http._settings import is_loopback_host  # noqa: PLC0415
    from model_fetch.transfer import UrlPolicy  # noqa: PLC0415

    token = _read_token(args)
    if not token and not is_loopback_host(args.host) and not args.allow_unauthenticated:
        raise InvalidRequest(
            f"refusing to serve on {args.host} without a token: pass --token/--token-file, set "
            "MODEL_FETCH_API_TOKEN, or --allow-unauthenticated",
        )
    settings = ServerSettings(
        token=token,
        bound_host=args.host,
        allowed_hosts=tuple(args.allowed_host),
        url_policy=UrlPolicy(
            allow_private=args.allow_private_urls, allowlist=tuple(args.allow_url)
        ),
        allow_insecure_tls=args.allow_insecure_tls,
        default_wait=args.wait,
        cors_origins=tuple(args.cors_origin),
    )
    app = create_app(downloader, settings)
    host_in_url = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"model-fetch serving {downloader.store.url} on http://{host_in_url}:{args.port}/ "
        "(open it in a browser for the web console)",
        file=sys.stderr,
    )
    level = "warning" if args.quiet else ("debug" if args.verbose > 1 else "info")
    serve(app, host=args.host, port=args.port, log_level=level)
    return 0


_COMMANDS: Final[dict[str, Callable[[Downloader, argparse.Namespace], int]]] = {
    "download": _download,
    "list": _list,
    "info": _info,
    "remove": _remove,
    "cache-info": _cache_info,
    "cache-prune": _cache_prune,
    "verify": _verify,
    "serve": _serve,
    "mirror": _mirror,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args = build_parser().parse_args(argv)
    level = (
        logging.ERROR
        if args.quiet
        else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        from model_fetch._downloader import Downloader  # noqa: PLC0415 - fast --help

        concurrency = getattr(args, "max_concurrent_downloads", 4)
        with Downloader(
            store=args.store,
            max_concurrent_downloads=concurrency,
            mirror=args.mirror,
            mirror_required=args.mirror_required,
            mirror_read_only=args.mirror_read_only,
            mirror_publish_private=args.mirror_publish_private,
        ) as downloader:
            return _COMMANDS[args.command](downloader, args)
    except ModelFetchError as exc:
        print(f"model-fetch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("model-fetch: interrupted", file=sys.stderr)
        return 130
