"""model_fetch.install's names load on first use and keep their meaning whatever loads first."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_signing_policy_loads_without_the_checks() -> None:
    """Reading the signing policy (a cache hit does) loads no readiness check or archive reader."""
    code = (
        "import sys\n"
        "from model_fetch.install.signing import effective_policy, load_signing_config\n"
        "print(effective_policy('if-present', load_signing_config(), None))\n"
        "print([m for m in ('model_fetch.install.checks', 'model_fetch.install.extract',"
        " 'tarfile', 'zipfile') if m in sys.modules])\n"
    )
    assert _run(code).splitlines() == ["if-present", "[]"]


def test_extract_is_the_function_after_its_subpackage_loaded() -> None:
    """`from model_fetch.install import extract` is the function even once the subpackage loaded."""
    code = (
        "import model_fetch.install._step, model_fetch.install.extract._tar\n"
        "import model_fetch.install as install\n"
        "from model_fetch.install import extract\n"
        "print(callable(extract), install.extract is extract, extract.__module__)\n"
    )
    assert _run(code) == "True True model_fetch.install.extract._extract"
