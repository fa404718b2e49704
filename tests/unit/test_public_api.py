"""The public surface: exports, error table, and a light import."""

from __future__ import annotations

import subprocess
import sys

import model_fetch
from model_fetch import exceptions


def test_all_is_sorted_and_complete() -> None:
    """__all__ lists every public name exactly once, sorted, and each one exists."""
    assert model_fetch.__all__ == sorted(model_fetch.__all__)
    assert len(set(model_fetch.__all__)) == len(model_fetch.__all__)
    for name in model_fetch.__all__:
        assert hasattr(model_fetch, name)
    public = {n for n in dir(model_fetch) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(model_fetch.__all__)


def test_error_table() -> None:
    """Each error maps to one status code and exit code, as documented."""
    table = {cls.__name__: (status, code) for cls, status, code in exceptions.ERROR_TABLE}
    assert table["InvalidRequest"] == (400, 2)
    assert table["UnknownSource"] == (400, 2)
    assert table["ModelNotFound"] == (404, 3)
    assert table["ModelExists"] == (409, 4)
    assert table["InsufficientStorage"] == (413, 5)
    assert table["DownloadFailed"] == (500, 1)
    assert table["ChecksumMismatch"] == (500, 1)
    assert issubclass(exceptions.InvalidRequest, ValueError)
    assert issubclass(exceptions.ModelNotFound, LookupError)


def test_import_is_light() -> None:
    """`import model_fetch` loads no heavy dependency; public names load on first use."""
    code = (
        "import sys, model_fetch; "
        "print(','.join(m for m in ('torch', 'huggingface_hub', 'fastapi', 'fsspec', 'tqdm', "
        "'urllib3', 'filelock', 'model_fetch._downloader', 'model_fetch._fetch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_loads_only_the_errors() -> None:
    """`import model_fetch` costs little more than the interpreter: the errors, no typing."""
    code = (
        "import sys; before = set(sys.modules); import model_fetch; "
        "print(','.join(sorted(m for m in set(sys.modules) - before "
        "if m in ('inspect', 'logging', 're', 'typing') or m.startswith('model_fetch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "model_fetch,model_fetch.exceptions"


def test_library_warnings_are_silent_without_logging_configured() -> None:
    """A warning model_fetch logs prints nothing unless the application configured logging."""
    code = (
        "from model_fetch._log import get_logger; "
        "get_logger('model_fetch.storage').warning('Ignoring unreadable install record')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == ""


def test_lazy_names_resolve() -> None:
    """Every public name resolves through the lazy loader to the real object."""
    from model_fetch._downloader import Downloader  # noqa: PLC0415 - compared with the lazy one
    from model_fetch._fetch import fetch  # noqa: PLC0415 - compared with the lazy one

    assert model_fetch.Downloader is Downloader
    assert "Downloader" in dir(model_fetch)
    assert model_fetch.fetch is fetch
    assert "fetch" in model_fetch.__all__
