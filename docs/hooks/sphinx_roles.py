"""A griffe extension: render the reST bits of our docstrings as Markdown in the API pages.

The docstrings are Google style, but some name other objects with Sphinx roles
(``:class:`~model_fetch.Downloader```) and introduce literal blocks with ``::``, which Markdown
would show verbatim. Rewriting them at build time keeps the sources readable in an editor and
the site clean, without editing every docstring.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import griffe

if TYPE_CHECKING:
    import ast

_ROLE: Final = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`(?P<tilde>~?)(?P<text>[^`]+)`"
)
_LITERAL: Final = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    text = match["text"]
    if "<" in text:  # :class:`shown text <target>`
        text = text.split("<", 1)[0].strip()
    elif match["tilde"]:
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


def markdown(docstring: str) -> str:
    """Turn Sphinx roles into code spans and ``text::`` into ``text:``."""
    return _LITERAL.sub(":", _ROLE.sub(_role, docstring))


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring as it is loaded."""

    def on_instance(
        self,
        *,
        node: ast.AST | griffe.ObjectNode,
        obj: griffe.Object,
        agent: griffe.Visitor | griffe.Inspector,
        **kwargs: Any,
    ) -> None:
        """Rewrite the docstring of an object (module, class, function or attribute)."""
        del node, agent, kwargs
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
