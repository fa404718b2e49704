"""The commands that read or change the store: each takes a Downloader and the parsed arguments."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Final

from model_fetch._contract import iso_timestamp
from model_fetch._models import ModelListing, PruneReport
from model_fetch.cli._bar import ProgressBar
from model_fetch.cli._parser import OPTION_FLAGS
from model_fetch.exceptions import InvalidRequest

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from model_fetch._downloader import Downloader
    from model_fetch._models import Progress

__all__ = [
    "cache_info",
    "cache_prune",
    "download",
    "info",
    "list_models",
    "mirror",
    "remove",
    "verify",
]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The download options the flags give (None: not given, the option's default applies)."""
    given = {name: getattr(args, name) for name in OPTION_FLAGS}
    options: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    if args.no_verify_ssl:
        options["verify_ssl"] = False
    if args.no_extract:
        options["extract_after_download"] = False
    if args.keep_temp:
        options["cleanup_temp_files"] = False
    if args.allow_torchscript:
        options["allow_torchscript"] = True
    if args.accept_files:
        options["accept_files"] = list(args.accept_files)
    if args.signature is not None:
        options["signature"] = args.signature
    return options


def download(downloader: Downloader, args: argparse.Namespace) -> int:
    options = _options(args)
    metadata: dict[str, Any] = {}
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"--metadata is not valid JSON: {exc}") from None
    bar = ProgressBar(args.name) if sys.stderr.isatty() and not args.quiet else None
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
        return 0
    verb = "Already installed" if result.reused else "Installed"
    check = "checksum verified" if result.checksum_verified else "no checksum to verify"
    print(f"{verb} {result.model_name} {result.version} ({check})")
    if result.signature is not None:
        print(f"Signed ({result.signature.method}) by {result.signature.identity}")
    if result.ready_for_inference:
        print(f"Ready for inference ({result.readiness.get('checked')})")
    else:
        print(f"Not ready for inference: {result.readiness.get('reason')}")
    print(result.file_path)
    return 0


def list_models(downloader: Downloader, args: argparse.Namespace) -> int:
    from model_fetch._models import InstalledModel  # noqa: PLC0415 - fast --help

    entries = downloader.models_and_jobs()
    if args.json:
        bodies = tuple(
            entry if isinstance(entry, InstalledModel) else entry.listing_entry()
            for entry in entries
        )
        _print_json(ModelListing(models=bodies).to_dict())
        return 0
    if not entries:
        print("No models installed.")
        return 0
    rows = [("NAME", "VERSION", "SIZE (MB)", "SOURCE", "INSTALLED", "SIGNED")]
    for m in entries:
        if isinstance(m, InstalledModel):
            size, installed = f"{m.size_bytes / 2**20:.1f}", iso_timestamp(m.installed_at)
            signed = m.signature.method or "-" if m.signature is not None else "-"
            rows.append((m.name, m.version, size, m.source, installed, signed))
        else:  # a download of this process in flight, or one that failed
            status = m.listing_entry().status
            rows.append((m.request.model_name, m.request.version, "-", "-", status, "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def info(downloader: Downloader, args: argparse.Namespace) -> int:
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
    signed = info.signature
    print(f"{'signature:':<20}{f'{signed.method} {signed.identity}' if signed else 'not verified'}")
    for file in info.files:
        print(f"  {file.path}  {file.size} bytes  sha256:{file.sha256}")
    return 0


def remove(downloader: Downloader, args: argparse.Namespace) -> int:
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


def verify(downloader: Downloader, args: argparse.Namespace) -> int:
    result = downloader.verify(args.name, args.model_version)
    if args.json:
        _print_json(result.to_dict())
    elif result.ok:
        print(f"{result.model_name} {result.version}: {result.checked_files} file(s) intact")
        if result.signature is not None:
            signed = result.signature
            print(f"signature verified ({signed.method}, {signed.identity})")
    else:
        print(f"{result.model_name} {result.version}: CORRUPTED", file=sys.stderr)
        for path in result.missing:
            print(f"  missing: {path}", file=sys.stderr)
        for item in result.mismatched:
            print(f"  changed: {item['path']}", file=sys.stderr)
        if result.signature_error is not None:
            print(f"  signature: {result.signature_error}", file=sys.stderr)
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


def cache_prune(downloader: Downloader, args: argparse.Namespace) -> int:
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


def mirror(downloader: Downloader, args: argparse.Namespace) -> int:
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


def cache_info(downloader: Downloader, args: argparse.Namespace) -> int:
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
    print(f"Shared:     {models['deduplicated_size_mb']} MB saved by storing identical files once")
    print(
        f"Downloads:  {downloads['partial_downloads']} partial, {downloads['current_size_mb']} MB"
    )
    return 0
