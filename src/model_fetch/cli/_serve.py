"""The ``serve`` command: the REST API and web console under uvicorn (extra ``http``)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    import argparse

    from model_fetch._downloader import Downloader

__all__ = ["serve_command"]


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


def serve_command(downloader: Downloader, args: argparse.Namespace) -> int:
    try:
        from model_fetch.http import (  # noqa: PLC0415 - the http extra is optional
            ServerSettings,
            create_app,
            is_loopback_host,
            serve,
        )
    except ImportError as exc:
        raise InvalidRequest(
            f"serve needs the http extra: pip install 'model_fetch[http]' ({exc})"
        ) from None
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
