"""The ``model-fetch`` argument parser, and the CLI reference rendered from it."""

from __future__ import annotations

import argparse
import functools
import os
from typing import Any, Final

import attrs

from model_fetch import __version__
from model_fetch._contract import wire_of
from model_fetch._models import DownloadOptions

__all__ = ["EXIT_CODES", "OPTION_FLAGS", "build_parser", "render_reference"]

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
        help=(
            "store root: a path or fsspec URL, or hf-cache for the Hugging Face cache "
            "(default: $MODEL_FETCH_HOME, else the user cache)"
        ),
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
    download.add_argument(
        "--accept-file",
        action="append",
        dest="accept_files",
        metavar="NAME",
        help="trust this file (a name or glob) although it holds a pickle that runs code; "
        "repeatable",
    )
    download.add_argument(
        "--signature",
        choices=("required", "if-present", "off"),
        help=(
            "verify the model's OpenSSF signature: required, if-present (default) or off; "
            "the signing configuration may require more"
        ),
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
        description="Delete the partial files kept to resume interrupted downloads, and the "
        "staging left by a killed download (at any age). Also finish what a killed commit or "
        "removal left: generations no install record names and unused blobs (local stores), "
        "removals under way (hf-cache). On an object store (and the mirror) also clear expired "
        "leases, orphaned generations and abandoned multipart uploads.",
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
OPTION_FLAGS: Final[dict[str, tuple[str, str, str, bool]]] = {
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
    "deadline": ("--deadline", "S", "seconds one file may take, retries included", False),
    "min_rate": ("--min-rate", "BYTES", "slowest bytes per second over each 30 s window", True),
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
    for name, (flag, metavar, text, in_bytes) in OPTION_FLAGS.items():
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
