"""Check that a built site loads nothing from another host (``python sitecheck.py SITE_DIR``).

Links (``<a href>``) may point anywhere: a reader chooses to follow them. Everything a browser
loads by itself must be local: scripts, stylesheets, icons, images, frames, media, fonts, and
``url(...)``/``@import`` inside stylesheets and ``style`` attributes.
"""

from __future__ import annotations

import html.parser
import re
import sys
from pathlib import Path
from typing import Final

#: (tag, attribute) pairs whose URL the browser fetches without a click.
_LOADED: Final = {
    ("script", "src"),
    ("link", "href"),
    ("img", "src"),
    ("img", "srcset"),
    ("iframe", "src"),
    ("frame", "src"),
    ("source", "src"),
    ("source", "srcset"),
    ("video", "src"),
    ("video", "poster"),
    ("audio", "src"),
    ("track", "src"),
    ("embed", "src"),
    ("object", "data"),
    ("image", "href"),
    ("use", "href"),
    ("input", "src"),
}
#: A URL that leaves the site: one with a scheme (other than the local ones below), or
#: protocol-relative (``//host/path``).
_REMOTE: Final = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
_LOCAL_SCHEMES: Final = ("data:", "blob:", "about:", "javascript:", "#")
_CSS_URL: Final = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)


def is_remote(url: str) -> bool:
    """Whether fetching ``url`` from a page of the site would contact another host."""
    url = url.strip()
    if url.lower().startswith(_LOCAL_SCHEMES):
        return False
    return bool(_REMOTE.match(url))


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if (tag, name) in _LOADED:
                candidates = value.split(",") if name == "srcset" else [value]
                self.loads += [item.split()[0] for item in candidates if item.strip()]
            elif name == "style":
                self.loads += _CSS_URL.findall(value)

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style":
            self.loads += _CSS_URL.findall(data)


def remote_loads(site: Path) -> list[str]:
    """Every resource a page or stylesheet of ``site`` would load from another host."""
    found = []
    for page in sorted(site.rglob("*.html")):
        collector = _Collector()
        collector.feed(page.read_text(errors="replace"))
        found += [f"{page.relative_to(site)}: {url}" for url in collector.loads if is_remote(url)]
    for sheet in sorted(site.rglob("*.css")):
        urls = _CSS_URL.findall(sheet.read_text(errors="replace"))
        found += [f"{sheet.relative_to(site)}: {url}" for url in urls if is_remote(url)]
    return found


def main(argv: list[str]) -> int:
    """Print every remote load under the site directory; exit 1 if there is any."""
    site = Path(argv[1] if len(argv) > 1 else "site")
    if not (site / "index.html").is_file():
        sys.stderr.write(f"{site} holds no built site (index.html is missing)\n")
        return 2
    found = remote_loads(site)
    for line in found:
        sys.stderr.write(f"remote load: {line}\n")
    pages = sum(1 for _ in site.rglob("*.html"))
    sys.stdout.write(f"{pages} pages checked, {len(found)} remote loads\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
