"""One table of option defaults and caps: the library enforces it and the CLI shows it."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

from model_fetch import DownloadOptions, InvalidRequest
from model_fetch._contract import wire_of
from model_fetch.cli import build_parser

FIELDS = attrs.fields_dict(attrs.resolve_types(DownloadOptions))
CAPPED = [name for name, field in FIELDS.items() if wire_of(field).le is not None]


def test_the_unified_caps() -> None:
    """The caps are the REST API's former, tighter ones, now the library's too."""
    caps = {name: (wire_of(FIELDS[name]).ge, wire_of(FIELDS[name]).le) for name in CAPPED}
    assert caps == {
        "chunk_size": (1, 16 * 1024 * 1024),
        "timeout": (None, 3600),
        "retry_count": (0, 10),
        "connections": (1, 16),
        "parallel_min_size": (1 << 20, 1 << 50),
        "deadline": (None, 86400),
        "min_rate": (1, 1 << 30),
    }
    assert wire_of(FIELDS["timeout"]).gt == 0


@pytest.mark.parametrize("name", CAPPED)
def test_each_cap_is_inclusive_and_the_next_value_is_refused(name: str) -> None:
    """The highest value is accepted; one above it, or one below the floor, is a 400."""
    rule = wire_of(FIELDS[name])
    assert rule.le is not None
    DownloadOptions(**{name: rule.le})
    step = 1 if FIELDS[name].type is int else 1e-6
    beyond: list[Any] = [rule.le + step]
    if rule.ge is not None:
        DownloadOptions(**{name: rule.ge})
        beyond.append(rule.ge - step)
    if rule.gt is not None:
        beyond += [rule.gt, math.nan, -math.inf]
    for value in beyond:
        with pytest.raises(InvalidRequest, match=f"options.{name}") as caught:
            DownloadOptions(**{name: value})
        assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"allow_patterns": []}, "1 to 64"),
        ({"allow_patterns": ["*"] * 65}, "1 to 64"),
        ({"ignore_patterns": ["*"] * 65}, "0 to 64"),
        ({"ignore_patterns": ["x" * 257]}, "256 characters"),
        ({"allow_patterns": [""]}, "non-empty"),
    ],
)
def test_pattern_caps_hold_in_the_library(options: dict[str, Any], fragment: str) -> None:
    """Pattern lists have the same caps in the library as over REST (an empty allow list too)."""
    with pytest.raises(InvalidRequest, match=fragment):
        DownloadOptions(**options)
    DownloadOptions(ignore_patterns=[])
    DownloadOptions(allow_patterns=["x" * 256] * 64)


def test_cli_help_shows_each_options_default_and_caps() -> None:
    """`model-fetch download --help` states the table's default and caps for every option flag."""
    download = build_parser()._subparsers._group_actions[0].choices["download"]
    helps = {action.dest: action.help for action in download._actions}
    assert helps["chunk_size"].endswith("(default 8 KiB; 1 to 16 MiB)")
    assert helps["timeout"].endswith("(default 300; above 0, at most 3600)")
    assert helps["retry_count"].endswith("(default 3; 0 to 10)")
    assert helps["connections"].endswith("(default 1; 1 to 16)")
    assert helps["parallel_min_size"].endswith("(default 64 MiB; 1 MiB to 1 PiB)")


def test_cli_flags_fill_the_options_they_name() -> None:
    """Each option flag sets the option of the same row of the table, with its type."""
    args = build_parser().parse_args(
        ["download", "m", "--chunk-size", "4096", "--timeout", "1.5", "--retries", "2"]
    )
    assert (args.chunk_size, args.timeout, args.retry_count) == (4096, 1.5, 2)
    assert args.connections is None
