"""Generate the REST reference (docs/rest-api.md, docs/openapi.json) from the server's OpenAPI.

``python tests/support/docgen.py`` rewrites both files; ``tests/test_docs.py`` fails when they
differ from what the current code generates, like the CLI reference.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

DOCS: Final = Path(__file__).resolve().parents[2] / "docs"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of ``create_app()`` with the default (safe) server settings."""
    from model_fetch import Downloader  # noqa: PLC0415 - the http extra is only needed here
    from model_fetch.http import ServerSettings, create_app  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as store, Downloader(store=store) as downloader:
        return create_app(downloader, ServerSettings()).openapi()


def openapi_json(document: dict[str, Any]) -> str:
    """The document as committed in docs/openapi.json."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _type(schema: dict[str, Any]) -> str:
    """A short type expression for a JSON Schema, with links to the component schemas."""
    kind = schema.get("type", "any")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        text = f"[`{name}`](#{name.lower()})"
    elif "anyOf" in schema or "oneOf" in schema:
        text = " or ".join(_type(item) for item in schema.get("anyOf", schema.get("oneOf")))
    elif kind == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = f"object of {_type(schema['additionalProperties'])}"
    elif "enum" in schema:
        text = " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    else:
        text = f"`{json.dumps(schema['const'])}`" if "const" in schema else f"`{kind}`"
    return text


def _rules(schema: dict[str, Any]) -> str:
    """Defaults and limits of a schema, in words."""
    words = []
    for key, text in (
        ("default", "default"),
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
        ("maxItems", "items ≤"),
        ("pattern", "pattern"),
    ):
        if key in schema:
            value = schema[key]
            words.append(f"{text} `{json.dumps(value) if key == 'default' else value}`")
    return "; ".join(words)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _schema_table(schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    if not properties:
        return [f"Type: {_type(schema)}.", ""]
    required = set(schema.get("required", []))
    lines = ["| field | type | required | rules | description |", "|---|---|---|---|---|"]
    for name, prop in properties.items():
        lines.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | "
            f"{_cell(_rules(prop))} | {_cell(prop.get('description', ''))} |"
        )
    extra = schema.get("additionalProperties")
    if extra is False:
        lines += ["", "No other fields are accepted."]
    return [*lines, ""]


def _anchor(method: str, path: str) -> str:
    anchor = f"{method}-{path}".lower().replace("/", "-").replace("{", "").replace("}", "")
    return "-".join(part for part in anchor.split("-") if part)


def _operation(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """One endpoint's section: summary, parameters, request body and responses."""
    out = ["", f"## {method.upper()} {path} {{ #{_anchor(method, path)} }}", ""]
    out += [operation.get("summary", ""), ""]
    if operation.get("description"):
        out += [operation["description"].strip(), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        out += [
            "| parameter | in | type | required | rules | description |",
            "|---|---|---|---|---|---|",
        ]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            description = parameter.get("description", schema.get("description", ""))
            out.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_type(schema)} | "
                f"{'yes' if parameter.get('required') else 'no'} | "
                f"{_cell(_rules(schema))} | {_cell(description)} |"
            )
        out.append("")
    body = operation.get("requestBody")
    for media, content in (body or {}).get("content", {}).items():
        required = "required" if body.get("required") else "optional"
        out += [f"Request body ({media}, {required}): {_type(content['schema'])}", ""]
    out += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in operation.get("responses", {}).items():
        schemas = [c.get("schema", {}) for c in response.get("content", {}).values()]
        shape = ", ".join(_type(schema) for schema in schemas) or "none"
        out.append(f"| {status} | {_cell(response.get('description', ''))} | {shape} |")
    return out


def render_rest_reference(document: dict[str, Any]) -> str:
    """Render the OpenAPI document as Markdown: every endpoint, parameter, body and status."""
    info = document["info"]
    out = [
        "# REST API reference",
        "",
        "Generated from the server's own OpenAPI document (`create_app(...).openapi()`, default",
        "settings) by `python tests/support/docgen.py`; a test keeps this page and",
        "[openapi.json](openapi.json) identical to what the code serves at `GET /openapi.json`.",
        "The rules behind the fields (caps, URL safety, the token) are in [REST rules](rest.md).",
        "",
        f"**{info['title']} {info['version']}**: {info.get('description', '')}",
        "",
        "## Endpoints",
        "",
        "| method | path | summary | status codes |",
        "|---|---|---|---|",
    ]
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    for path, method, operation in operations:
        out.append(
            f"| {method.upper()} | [`{path}`](#{_anchor(method, path)}) | "
            f"{operation.get('summary', '')} | {', '.join(operation.get('responses', {}))} |"
        )
    for path, method, operation in operations:
        out += _operation(path, method, operation)
    out += ["", "## Schemas", ""]
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        out += [f"### {name} {{ #{name.lower()} }}", ""]
        if schema.get("description"):
            out += [" ".join(schema["description"].split()), ""]
        out += _schema_table(schema)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    """Rewrite docs/rest-api.md and docs/openapi.json."""
    document = openapi_document()
    (DOCS / "openapi.json").write_text(openapi_json(document))
    (DOCS / "rest-api.md").write_text(render_rest_reference(document))
    sys.stdout.write("wrote docs/rest-api.md and docs/openapi.json\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
