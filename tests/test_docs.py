"""The documentation tells the truth about configuration and errors."""

from __future__ import annotations

from pathlib import Path

from model_fetch._config import ENVIRONMENT_VARIABLES
from model_fetch.cli import render_reference
from model_fetch.exceptions import ERROR_TABLE

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_environment_variable_is_documented() -> None:
    """Each variable the settings read appears in docs/configuration.md's table."""
    text = (DOCS / "configuration.md").read_text()
    for names in ENVIRONMENT_VARIABLES:
        for name in names.split(" / "):
            assert f"`{name}`" in text, name


def test_every_error_class_is_documented() -> None:
    """Each error class appears in docs/errors.md with its status code and exit code."""
    text = (DOCS / "errors.md").read_text()
    for cls, status, exit_code in ERROR_TABLE:
        if cls.__name__ == "ModelFetchError":
            continue
        row = next(line for line in text.splitlines() if line.startswith(f"| `{cls.__name__}`"))
        assert f"| {status} | {exit_code} |" in row, row


def test_cli_reference_is_generated_from_the_parser() -> None:
    """docs/cli.md is exactly what the parser prints (regenerate with render_reference())."""
    assert (DOCS / "cli.md").read_text() == render_reference()
