"""The docs harness runs what the docs show, and refuses markers and fences it would not run."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from sybil import Document

from support import docs_harness, sitecheck
from support.docs_harness import ExampleParser
from support.helpers import REPO


def _regions(text: str) -> list[tuple[str, object]]:
    document = Document(text, "page.md")
    for region in ExampleParser()(document):
        document.add(region)
    results = []
    for example in document:
        try:
            results.append((str(example.parsed).strip(), example.region.evaluator(example)))
        except pytest.skip.Exception as skipped:
            results.append((str(example.parsed).strip(), f"skipped: {skipped.msg}"))
    return results


def test_python_blocks_run_in_order_with_one_namespace() -> None:
    """A later block sees what an earlier block of the same page defined."""
    text = "```python\nx = 41\n```\n\ntext\n\n```python\nassert x + 1 == 42\n```\n"
    assert [outcome for _, outcome in _regions(text)] == [None, None]


def test_a_failing_python_block_fails() -> None:
    """An example that raises is a failure, not a pass."""
    with pytest.raises(AssertionError):
        _regions("```python\nassert 1 == 2\n```\n")


def test_no_run_marker_with_a_reason_skips_the_block() -> None:
    """`<!-- no-run: reason -->` directly above a fence skips it, with the reason."""
    text = "<!-- no-run: needs a real S3 bucket -->\n```python\nraise SystemExit(1)\n```\n"
    assert _regions(text) == [("raise SystemExit(1)", "skipped: no-run: needs a real S3 bucket")]


@pytest.mark.parametrize("marker", ["<!-- no-run -->", "<!-- no-run: -->", "<!-- no-run:   -->"])
def test_a_marker_without_a_reason_is_an_error(marker: str) -> None:
    """A skip must say why."""
    ((_, outcome),) = _regions(f"{marker}\n```bash\ntrue\n```\n")
    assert "needs a reason" in str(outcome)


def test_a_marker_not_directly_above_a_fence_is_an_error() -> None:
    """A blank line between marker and fence would silently run the block: refused."""
    outcomes = [o for _, o in _regions("<!-- no-run: why -->\n\n```text\nx\n```\n")]
    assert outcomes == ["a no-run marker must be directly above a code fence"]


@pytest.mark.parametrize("language", ["sh", "shell", "console", "py"])
def test_runnable_looking_fences_in_other_languages_are_errors(language: str) -> None:
    """A ```sh block would escape the harness, so it is refused with a hint."""
    ((_, outcome),) = _regions(f"```{language}\necho hi\n```\n")
    assert "are not run" in str(outcome)


def test_output_blocks_are_not_run() -> None:
    """```text and ```json blocks are output, not examples."""
    assert _regions('```text\n$ anything\n```\n\n```json\n{"a": 1}\n```\n') == []


def test_site_check_flags_remote_loads_but_not_links(tmp_path) -> None:
    """Scripts, styles, images and CSS urls from another host are flagged; <a href> is not."""
    (tmp_path / "index.html").write_text(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//unpkg.com/x.js"></script><script src="assets/local.js"></script>'
        '<img src="data:image/png;base64,AAAA"><img srcset="a.png 1x, https://cdn.test/b.png 2x">'
        '<a href="https://github.com/">a link</a><div style="background: url(http://x.test/i.png)">'
    )
    (tmp_path / "style.css").write_text("@import 'https://x.test/f.css'; .a{background:url(i.png)}")
    found = sitecheck.remote_loads(tmp_path)
    assert found == [
        "index.html: https://fonts.googleapis.com/css?family=Roboto",
        "index.html: //unpkg.com/x.js",
        "index.html: https://cdn.test/b.png",
        "index.html: http://x.test/i.png",
        "style.css: https://x.test/f.css",
    ]
    assert sitecheck.main(["sitecheck", str(tmp_path)]) == 1


def test_api_pages_render_sphinx_roles_as_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The griffe extension turns :class:`~a.B` into `B` and `text::` into `text:`."""
    if importlib.util.find_spec("griffe") is None:  # griffe comes with the docs group only
        monkeypatch.setitem(sys.modules, "griffe", types.SimpleNamespace(Extension=object))
    path = REPO / "docs" / "hooks" / "sphinx_roles.py"
    spec = importlib.util.spec_from_file_location("sphinx_roles", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Use :class:`~model_fetch.Downloader`, :func:`model_fetch.sources.register_source`::"
    assert module.markdown(text) == "Use `Downloader`, `model_fetch.sources.register_source`:"
    assert module.markdown(":meth:`the job <model_fetch.DownloadJob.wait>`") == "`the job`"


def test_a_block_whose_port_is_taken_fails_clearly() -> None:
    """An example on port 8001 is not run against someone else's server on that port."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", 8001))
        except OSError:
            pytest.skip("port 8001 is in use on this machine")
        holder.listen()
        assert docs_harness._busy_ports("curl http://127.0.0.1:8001/x", wait=0.1) == [8001]
    assert docs_harness._busy_ports("curl http://127.0.0.1:8001/x", wait=0.1) == []
    assert docs_harness._busy_ports("echo no ports here", wait=0.1) == []


def test_s3_buckets_are_the_ones_runnable_examples_name() -> None:
    """Only python and bash blocks that run count: not prose, output or no-run blocks."""
    text = (
        "A store at `s3://prose-bucket/x`.\n\n"
        "```bash\nmodel-fetch --store s3://my-models/prod list\n```\n\n"
        '```python\nDownloader(store="s3://other.models/p", mirror="s3://my-models/m")\n```\n\n'
        "<!-- no-run: needs real AWS -->\n```bash\naws s3 mb s3://skipped-bucket\n```\n\n"
        "```text\ns3://output-bucket/models/x\n```\n"
    )
    assert docs_harness.s3_buckets(text) == ["my-models", "other.models"]


class _NoServers:
    def environment(self, home: Path) -> dict[str, str]:
        return {"HOME": str(home)}


def test_an_s3_page_gets_the_moto_environment_and_empty_buckets(
    moto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page sees the moto endpoint, not the developer's AWS settings, and fresh buckets."""
    moto.fresh_bucket("my-models")
    moto.client().put_object(Bucket="my-models", Key="prod/left-over", Body=b"x")
    monkeypatch.setenv("AWS_PROFILE", "developers-own")
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", "https://s3.example.invalid")
    world: Any = _NoServers()
    with docs_harness.document_environment(world, tmp_path, moto, ["my-models"]) as env:
        assert env.environ["AWS_ENDPOINT_URL"] == moto.endpoint
        assert "AWS_PROFILE" not in env.environ
        assert "FSSPEC_S3_ENDPOINT_URL" not in env.environ
        listing = moto.client().list_objects_v2(Bucket="my-models")
        assert listing["KeyCount"] == 0
    assert os.environ["AWS_PROFILE"] == "developers-own"


def test_a_page_without_s3_examples_gets_no_aws_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of the developer's AWS setup reaches a page that has no S3 example."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "developers-own")
    world: Any = _NoServers()
    with docs_harness.document_environment(world, tmp_path) as env:
        assert not [name for name in env.environ if name.startswith("AWS_")]
