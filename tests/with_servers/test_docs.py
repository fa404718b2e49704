"""The documentation tells the truth about configuration and errors."""

from __future__ import annotations

import hashlib
import json
import re

import attrs

import model_fetch
from model_fetch import DownloadOptions
from model_fetch._config import ENVIRONMENT_VARIABLES
from model_fetch.cli import render_reference
from model_fetch.exceptions import ERROR_TABLE
from support import docgen
from support.helpers import REPO

DOCS = REPO / "docs"


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


def test_rest_reference_is_generated_from_the_openapi_document() -> None:
    """docs/rest-api.md and docs/openapi.json match the server's OpenAPI (regenerate: docgen.py)."""
    document = docgen.openapi_document()
    assert (DOCS / "openapi.json").read_text() == docgen.openapi_json(document)
    assert (DOCS / "rest-api.md").read_text() == docgen.render_rest_reference(document)


def test_rest_reference_lists_every_route_and_status_code() -> None:
    """Each route the app serves, with each status code it declares, is on the page."""
    document = docgen.openapi_document()
    text = (DOCS / "rest-api.md").read_text()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            row = next(
                line for line in text.splitlines() if f"| {method.upper()} | [`{path}`]" in line
            )
            assert row.endswith(f"| {', '.join(operation['responses'])} |"), row


def test_api_reference_covers_every_public_name() -> None:
    """Every name in model_fetch.__all__ is rendered on api.md or on its module's page."""
    pages = {path.name: path.read_text() for path in DOCS.glob("api*.md")}
    module_pages = {
        "model_fetch.exceptions": "api-exceptions.md",
        "model_fetch.checksums": "api-checksums.md",
        "model_fetch.sources": "api-sources.md",
    }
    for module, page in module_pages.items():
        assert f"::: {module}\n" in pages[page], page
    for name in model_fetch.__all__:
        if name == "__version__":
            assert "`model_fetch.__version__`" in pages["api.md"]
            continue
        module = getattr(model_fetch, name).__module__
        if module in module_pages:
            assert f"`{name}`" in pages["api.md"], name  # named, with a link to its module page
        else:
            assert f"::: model_fetch.{name}\n" in pages["api.md"], name


def test_every_download_option_is_documented_with_its_default() -> None:
    """Each DownloadOptions field appears in configuration.md's options table with its default."""
    rows = [
        line
        for line in (DOCS / "configuration.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    for field in attrs.fields(DownloadOptions):
        row = next(line for line in rows if f"`{field.name}`" in line.split("|")[1])
        default = field.default
        shown = "unset" if default is None else json.dumps(default)
        assert shown in row.split("|")[2], (field.name, row)


def test_every_nav_page_exists_and_every_page_is_in_the_nav() -> None:
    """mkdocs.yml's navigation names each page of docs/ once."""
    nav = re.findall(
        r":\s+([\w./-]+\.md)\s*$", (DOCS.parent / "mkdocs.yml").read_text(), re.MULTILINE
    )
    assert len(nav) == len(set(nav))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert set(nav) == pages


def _plain(markdown: str) -> str:
    """Markdown table text without code spans and links, for comparing with plain strings."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown).replace("`", "")
    return " ".join(text.replace(" / ", ", ").split())


def test_every_environment_variable_is_documented_with_its_default() -> None:
    """Each variable's row in configuration.md states the default model_fetch._config gives."""
    rows = [
        line.split("|")
        for line in (DOCS / "configuration.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    for names, (default, _meaning) in ENVIRONMENT_VARIABLES.items():
        first = names.split(" / ")[0]
        row = next(cells for cells in rows if f"`{first}`" in cells[1])
        assert _plain(default).split(" (")[0] in _plain(row[2]), (names, row[2])


def test_install_record_reference_matches_a_real_install(downloader, server, store) -> None:
    """store.md's install record example has exactly the keys a real install.json has."""
    text = (DOCS / "store.md").read_text()
    section = text.split("## The install record", 1)[1]
    example = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    data = b"weights" * 1000
    server.add_file("/bert.bin", data)
    downloader.download(
        "org/bert",
        version="v1",
        download_url=server.url("/bert.bin"),
        checksum=f"sha256:{hashlib.sha256(data).hexdigest()}",
    )
    (record_path,) = store.glob("models/*/*/install.json")
    record = json.loads(record_path.read_text())
    assert set(example) == set(record)
    assert set(example["files"][0]) == set(record["files"][0])
    assert example["format"] == record["format"]
