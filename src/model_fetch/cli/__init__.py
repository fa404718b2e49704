"""The ``model-fetch`` command: parse, call :class:`~model_fetch.Downloader`, render.

Exit codes: 0 success, 1 download or verification failure, 2 bad input (including an invalid
name or an unknown source), 3 not found, 4 already exists (or a download in progress),
5 insufficient storage, 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Final

from model_fetch.cli import _commands
from model_fetch.cli._parser import EXIT_CODES, build_parser, render_reference
from model_fetch.cli._serve import serve_command
from model_fetch.exceptions import ModelFetchError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from model_fetch._downloader import Downloader

__all__ = ["EXIT_CODES", "build_parser", "main", "render_reference"]

_COMMANDS: Final[dict[str, Callable[[Downloader, argparse.Namespace], int]]] = {
    "download": _commands.download,
    "list": _commands.list_models,
    "info": _commands.info,
    "remove": _commands.remove,
    "cache-info": _commands.cache_info,
    "cache-prune": _commands.cache_prune,
    "verify": _commands.verify,
    "serve": serve_command,
    "mirror": _commands.mirror,
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
        from model_fetch._config import MirrorConfig  # noqa: PLC0415 - fast --help
        from model_fetch._downloader import Downloader  # noqa: PLC0415 - fast --help

        concurrency = getattr(args, "max_concurrent_downloads", 4)
        mirror = MirrorConfig(
            args.mirror,
            required=args.mirror_required,
            read_only=args.mirror_read_only,
            publish_private=args.mirror_publish_private,
        )
        with Downloader(
            store=args.store, max_concurrent_downloads=concurrency, mirror=mirror
        ) as downloader:
            return _COMMANDS[args.command](downloader, args)
    except ModelFetchError as exc:
        print(f"model-fetch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("model-fetch: interrupted", file=sys.stderr)
        return 130
