"""Run the code blocks of README.md and docs/*.md against local servers (see DEVELOPERS.md).

Every fenced ``python`` and ``bash`` block is an example that runs, in document order, with one
namespace and one fresh home directory per document:

* ``python`` blocks run in the test process (Sybil's evaluator);
* ``bash`` blocks run with ``bash -euo pipefail`` in a new process group, which is killed when the
  block ends, so ``model-fetch serve &`` needs no cleanup in the text.

``<!-- no-run: <reason> -->`` on the line directly above a fence skips that block, with the reason
in the test report. A marker without a reason, a marker that is not directly above a ``python`` or
``bash`` fence, and a block in a language that looks runnable but is not run (``sh``, ``py``,
``console``...) are errors, so nothing escapes the harness by accident.

The environment the examples see (:class:`DocsWorld`):

* ``https://models.example.com/`` is served from a local :class:`~support.server.FileServer`
  through :class:`~support.proxy.ExampleHostProxy` (``HTTPS_PROXY``, a test CA in
  ``SSL_CERT_FILE``); it holds ``tiny-mlp.safetensors`` (the bundled example model) and
  ``index.json`` (a repository index naming it);
* ``MODEL_FETCH_REPOSITORY`` points at a stand-in of the built-in index: the same models,
  versions and metadata, with each file replaced by a small torch checkpoint on 127.0.0.1 whose
  name carries its own sha256 prefix, so ``download("resnet50")`` runs without the internet;
* ``HF_ENDPOINT`` is a :class:`~support.hfhub.TestHub` with ``acme/tiny-mlp`` (public; tag
  ``v1.0``) and ``acme/private-mlp`` (private), and ``HF_TOKEN`` is the hub's token;
* on a page whose runnable examples name an S3 bucket (``s3://my-models/prod``), AWS test
  credentials and ``AWS_ENDPOINT_URL`` point s3fs and boto at the session's moto server
  (:class:`~support.s3.MotoServer`), where each bucket named is created fresh and empty when the
  page starts; ``NO_PROXY`` keeps those requests away from the example-host proxy;
* ``HOME``, ``MODEL_FETCH_HOME`` and the working directory are fresh temporary directories; the
  working directory links ``examples/`` and ``constraints.txt`` from the repository. The
  developer's own ``AWS_*``/``FSSPEC_*`` variables never reach an example.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
import trustme
from sybil import Document, Example, Region
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

from support.hfhub import HubFile, TestHub
from support.proxy import ExampleHostProxy
from support.server import FileServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from support.s3 import MotoServer

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLE_HOST: Final = "models.example.com"
TINY_MLP: Final = ROOT / "examples" / "models" / "tiny-mlp.safetensors"
HF_TOKEN: Final = "hf_docs_example_token"
#: Seconds a bash block may run (a pytest-timeout backstop covers python blocks).
BASH_TIMEOUT: Final = 100

#: Languages run as examples; anything that looks runnable under another name is an error.
RUN: Final = frozenset({"python", "bash"})
LOOKS_RUNNABLE: Final = frozenset(
    {"py", "python3", "pycon", "sh", "shell", "console", "shell-session", "zsh", "ipython"}
)
MARKER: Final = re.compile(r"^[ \t]*<!--\s*no-run\b(?P<rest>.*?)-->[ \t]*$", re.MULTILINE)
#: A bucket named in an example: ``s3://my-models/prod`` names ``my-models``.
S3_BUCKET: Final = re.compile(r"\bs3a?://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?![\w.-])")


# -- the parser -------------------------------------------------------------------------------


def _failure(message: str) -> Callable[[Example], str]:
    def evaluate(_example: Example) -> str:
        return message

    return evaluate


def _skip(reason: str) -> Callable[[Example], None]:
    def evaluate(_example: Example) -> None:
        pytest.skip(f"no-run: {reason}")

    return evaluate


def _marker_reason(rest: str) -> str | None:
    """The reason of a marker's text after ``no-run``, or None when it has none."""
    match = re.fullmatch(r"\s*:\s*(?P<reason>\S.*?)\s*", rest)
    return match["reason"] if match else None


class ExampleParser:
    """Sybil parser: every ``python``/``bash`` fence, the no-run markers, and misuse of both."""

    def __init__(self) -> None:
        """Build the fence lexer and the python evaluator."""
        self._lexer = FencedCodeBlockLexer(language=r"[^\n]*")
        self._python = PythonEvaluator()

    def __call__(self, document: Document) -> Iterable[Region]:
        """Yield one region per example, skipped example or error."""
        text = document.text
        used_markers: set[int] = set()
        for region in self._lexer(document):
            language = str(region.lexemes["language"]).strip()
            above_end = text.rfind("\n", 0, region.start)
            above_start = text.rfind("\n", 0, above_end) + 1
            above = MARKER.fullmatch(text, above_start, above_end) if above_end > 0 else None
            evaluator: Callable[[Example], Any] | None = None
            if above is not None:
                used_markers.add(above.start())
                reason = _marker_reason(above["rest"])
                if reason is None:
                    evaluator = _failure("<!-- no-run --> needs a reason: <!-- no-run: why -->")
                elif language not in RUN:
                    evaluator = _failure(f"<!-- no-run --> above a ```{language} block (never run)")
                else:
                    evaluator = _skip(reason)
            elif language in RUN:
                evaluator = self._python if language == "python" else run_bash
            elif language in LOOKS_RUNNABLE:
                evaluator = _failure(
                    f"```{language} blocks are not run: write ```python or ```bash "
                    "(or ```text for output)"
                )
            if evaluator is not None:
                region.parsed = region.lexemes["source"]
                region.evaluator = evaluator
                yield region
        for marker in MARKER.finditer(text):
            if marker.start() not in used_markers:
                yield Region(
                    marker.start(),
                    marker.end(),
                    parsed=marker.group(),
                    evaluator=_failure("a no-run marker must be directly above a code fence"),
                )


def s3_buckets(text: str, path: str = "page.md") -> list[str]:
    """The S3 buckets a page's runnable examples name (no-run blocks and prose do not count)."""
    document = Document(text, path)
    buckets: dict[str, None] = {}
    for region in ExampleParser()(document):
        if region.evaluator is run_bash or isinstance(region.evaluator, PythonEvaluator):
            buckets.update(dict.fromkeys(m["bucket"] for m in S3_BUCKET.finditer(region.parsed)))
    return list(buckets)


# -- bash blocks ------------------------------------------------------------------------------


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a block and its background jobs; wait until they are gone (ports are free again)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.poll()
        deadline = time.monotonic() + grace
        while _group_alive(process.pid) and time.monotonic() < deadline:
            process.poll()  # reap the block's own shell
            time.sleep(0.05)
        if not _group_alive(process.pid):
            break
    process.wait()


#: Fixed ports the examples serve on (the REST server's default, and a file server beside it).
EXAMPLE_PORTS: Final = (8000, 8001)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _busy_ports(source: str, wait: float = 15.0) -> list[int]:
    """The example ports a block uses that another process still holds after ``wait`` s."""
    wanted = [port for port in EXAMPLE_PORTS if f":{port}" in source or f"{port} " in source]
    deadline = time.monotonic() + wait
    while (busy := [port for port in wanted if not _port_free(port)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    return busy


def run_bash(example: Example) -> str | None:
    """Run a bash block in the document's environment; return a failure message or None."""
    env: DocsEnv = example.namespace["docs_env"]
    busy = _busy_ports(str(example.parsed))
    if busy:
        return f"port {busy} on 127.0.0.1 is used by another process; the example needs it"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", str(example.parsed)],
            cwd=env.cwd,
            env=env.environ,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=BASH_TIMEOUT)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            # Background jobs (`model-fetch serve &`) share the block's process group.
            _end_group(process)
        output.seek(0)
        text = output.read().decode(errors="replace")
    sys.stdout.write(text)
    if returncode is None:
        return f"the bash block ran longer than {BASH_TIMEOUT} s; output:\n{text}"
    if returncode != 0:
        return f"the bash block exited with {returncode}; output:\n{text}"
    return None


# -- the world the examples run in ------------------------------------------------------------


def _torch_checkpoint(seed: int) -> bytes:
    with warnings.catch_warnings():
        # torch warns at import when numpy is absent; the checkpoints need no numpy.
        warnings.filterwarnings("ignore", "Failed to initialize NumPy", UserWarning)
        import torch  # noqa: PLC0415 - only the docs tests need it

    buffer = io.BytesIO()
    generator = torch.Generator().manual_seed(seed)
    torch.save({"fc.weight": torch.rand(4, 4, generator=generator)}, buffer)
    return buffer.getvalue()


class DocsWorld:
    """The servers every documentation example may use (see the module docstring)."""

    def __init__(self, workdir: Path) -> None:
        """Start the file server, the example-host proxy and the test hub."""
        self.files = FileServer().start()
        self.hub = TestHub(token=HF_TOKEN).start()
        tiny = TINY_MLP.read_bytes()
        self.files.add_file("/tiny-mlp.safetensors", tiny)
        self.files.add_file("/index.json", json.dumps(example_index(tiny), indent=2).encode())
        self.files.add_file("/torchvision/index.json", self._builtin_standin())
        self.proxy = ExampleHostProxy(
            {EXAMPLE_HOST: self.files.port}, trustme.CA(), workdir / "docs-ca.pem"
        ).start()
        config = HubFile(path="config.json", data=b'{"hidden_size": 4}\n')
        weights = HubFile(path="model.safetensors", data=tiny, lfs=True)
        readme = HubFile(path="README.md", data=b"# tiny-mlp\n")
        sha = self.hub.add_repo("acme/tiny-mlp", [config, weights, readme])
        self.hub.set_ref("acme/tiny-mlp", "refs/tags/v1.0", sha)
        self.hub.add_repo("acme/private-mlp", [config, weights], private=True)

    def _builtin_standin(self) -> bytes:
        """The built-in index with every file replaced by a local stand-in checkpoint."""
        index = json.loads(
            (resources.files("model_fetch.sources") / "builtin_index.json").read_text()
        )
        seed = 0
        for name, model in index["models"].items():
            for version in model["versions"].values():
                for entry in version["files"]:
                    seed += 1
                    data = _torch_checkpoint(seed)
                    prefix = hashlib.sha256(data).hexdigest()[:8]
                    path = f"{name}-{prefix}.pth"
                    self.files.add_file(f"/torchvision/{path}", data)
                    entry.update(url=path, path=path, sha256_prefix=prefix)
        return json.dumps(index).encode()

    def environment(self, home: Path) -> dict[str, str]:
        """The environment variables a document's examples run with."""
        no_proxy = "127.0.0.1,localhost,::1"
        return {
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "MODEL_FETCH_HOME": str(home / ".cache" / "model_fetch"),
            "MODEL_FETCH_REPOSITORY": self.files.url("/torchvision/index.json"),
            "HF_ENDPOINT": self.hub.endpoint,
            "HF_TOKEN": HF_TOKEN,
            "HF_HOME": str(home / ".cache" / "huggingface"),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HTTPS_PROXY": self.proxy.url,
            "HTTP_PROXY": self.proxy.url,
            "https_proxy": self.proxy.url,
            "http_proxy": self.proxy.url,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "SSL_CERT_FILE": str(self.proxy.ca_file),
            "CURL_CA_BUNDLE": str(self.proxy.ca_file),
            "NETRC": str(home / ".netrc"),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "COLUMNS": "100",
        }

    def close(self) -> None:
        """Stop every server."""
        self.proxy.close()
        self.hub.close()
        self.files.close()


def example_index(tiny: bytes) -> dict[str, Any]:
    """The repository index served at ``https://models.example.com/index.json``."""
    return {
        "format": 1,
        "description": "Models of the example team",
        "models": {
            "tiny-mlp": {
                "latest": "v1",
                "description": "A two-layer MLP for examples",
                "versions": {
                    "v1": {
                        "files": [
                            {
                                "url": "tiny-mlp.safetensors",
                                "size": len(tiny),
                                "sha256": hashlib.sha256(tiny).hexdigest(),
                            }
                        ],
                        "tags": ["example"],
                    }
                },
            }
        },
    }


class DocsEnv:
    """What a document's bash blocks run with: the environment and the working directory."""

    def __init__(self, environ: dict[str, str], cwd: Path) -> None:
        """Keep the values."""
        self.environ = environ
        self.cwd = cwd


#: Variables of the developer's environment that must not leak into an example.
ISOLATED: Final = (
    "MODEL_FETCH_OFFLINE",
    "HF_HUB_OFFLINE",
    "MODEL_FETCH_MAX_STORE_SIZE",
    "MODEL_FETCH_LOCK_TIMEOUT",
    "MODEL_FETCH_LOCAL_REGISTRY",
    "MODEL_FETCH_API_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "MODEL_FETCH_MIRROR",
    "MODEL_FETCH_STAGING",
    "MODEL_FETCH_LEASE_TTL",
    "MODEL_FETCH_SIGNATURE",
    "MODEL_FETCH_SIGNING_CONFIG",
    "MODEL_FETCH_SIGNING_KEY",
    "ALL_PROXY",
    "all_proxy",
    "REQUESTS_CA_BUNDLE",
)
#: Prefixes of the developer's variables that must not leak either (credentials, endpoints).
ISOLATED_PREFIXES: Final = ("AWS_", "FSSPEC_")


@contextlib.contextmanager
def document_environment(
    world: DocsWorld, root: Path, s3: MotoServer | None = None, buckets: Iterable[str] = ()
) -> Iterator[DocsEnv]:
    """Set the environment and working directory of one document, and restore both after.

    With ``s3``, the page also gets the AWS environment of that moto server, and each of
    ``buckets`` is created there, empty (an earlier page's objects are deleted first).
    """
    from model_fetch import sources  # noqa: PLC0415 - restore what a page registers

    home = root / "home"
    work = root / "work"
    home.mkdir()
    work.mkdir()
    for name in ("examples", "constraints.txt"):
        (work / name).symlink_to(ROOT / name)
    sources.available_sources()  # load built-ins and entry points before taking the snapshot
    registered = dict(sources._registry)
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED:
            patch.delenv(name, raising=False)
        for name in os.environ:
            if name.upper().startswith(ISOLATED_PREFIXES):
                patch.delenv(name)
        for name, value in world.environment(home).items():
            patch.setenv(name, value)
        if s3 is not None:
            for name, value in s3.env.items():
                patch.setenv(name, value)
            for bucket in buckets:
                s3.fresh_bucket(bucket)
        patch.chdir(work)
        try:
            yield DocsEnv(dict(os.environ), work)
        finally:
            sources._registry.clear()
            sources._registry.update(registered)
