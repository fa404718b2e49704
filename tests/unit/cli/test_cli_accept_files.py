"""The CLI's --accept-file flag reaches the download options."""

from __future__ import annotations

from model_fetch._models import DownloadOptions
from model_fetch.cli._commands import _options
from model_fetch.cli._parser import build_parser


def test_accept_file_is_repeatable_and_becomes_accept_files() -> None:
    """`--accept-file` given twice trusts both files in the readiness check."""
    args = build_parser().parse_args(
        ["download", "tiny", "--accept-file", "training_args.bin", "--accept-file", "*.joblib"]
    )
    options = DownloadOptions.from_mapping(_options(args))
    assert options.accept_files == ("training_args.bin", "*.joblib")
    plain = build_parser().parse_args(["download", "tiny"])
    assert DownloadOptions.from_mapping(_options(plain)).accept_files is None
