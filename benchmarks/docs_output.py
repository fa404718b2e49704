"""Write benchmark results into the docs: a Markdown section and an SVG chart.

``docs/benchmarks.md`` holds each benchmark's latest table between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``; the scripts replace what lies between, so the page's prose stays
hand-written while its figures always come from a run. Charts go to ``docs/images/``.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "benchmarks.md"


def write_section(name: str, markdown: str, page: Path = PAGE) -> None:
    """Replace the text between the ``name`` markers of ``page`` (appending them if absent)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = page.read_text() if page.exists() else ""
    block = f"{start}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    page.write_text(text)
    print(f"wrote section {name!r} of {page}")


def write_chart(
    name: str, *, labels: list[str], values: list[float], xlabel: str, title: str
) -> Path:
    """Draw a horizontal bar chart to ``docs/images/bench-NAME.svg`` (needs matplotlib)."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    mpl.rcParams["svg.hashsalt"] = name  # stable ids: re-runs change only what changed
    mpl.rcParams["svg.fonttype"] = "none"  # text stays text (no embedded glyphs)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.2))
    colours = ["#2b6cb0" if label.startswith("model_fetch") else "#a0aec0" for label in labels]
    bars = axes.barh(labels[::-1], values[::-1], color=colours[::-1])
    axes.bar_label(bars, fmt="%.0f", padding=3)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    path = DOCS / "images" / f"bench-{name}.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)
    print(f"wrote {path}")
    return path
