"""Sessions: tests, tests-loaded, docs, lint, typecheck, bench, demo. CI: `nox -s tests docs`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# torch is pinned to the CPU build on this project's machines; see DEVELOPERS.md.
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))


def _install(session: nox.Session, extras: str, *groups: str) -> None:
    session.install("--upgrade", "pip")
    requirements = [
        req for group in groups for req in nox.project.dependency_groups(PYPROJECT, group)
    ]
    session.install(*CONSTRAINTS, "-e", f".[{extras}]" if extras else ".", *requirements)


# The console's browser tests drive Debian's Chromium (never Playwright's own download).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium"


def _ensure_chromium(session: nox.Session) -> None:
    """Install Chromium when it is missing and we are root; otherwise stop with the command."""
    if os.environ.get("MODEL_FETCH_CHROMIUM") or Path(CHROMIUM).exists():
        return
    if os.environ.get("MODEL_FETCH_SKIP_BROWSER") == "1" and not os.environ.get("CI"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", external=True, env=env)
        install = ("apt-get", "install", "-y", "--no-install-recommends", "chromium")
        session.run(*install, external=True, env=env)
        return
    session.error(
        f"The browser tests need Chromium at {CHROMIUM}. Run as root: {CHROMIUM_INSTALL}"
        " (or set MODEL_FETCH_SKIP_BROWSER=1 to skip those tests knowingly; not under CI)"
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (every extra installed, so nothing is skipped for lack of a package)."""
    _ensure_chromium(session)
    _install(session, "all", "test")
    session.run("pytest", *session.posargs)


@nox.session(name="tests-loaded")
def tests_loaded(session: nox.Session) -> None:
    """Run the suite with every CPU kept busy (tests/support/busy.py), as on a shared machine.

    Tests synchronise on events, never on sleeps or wall-clock margins; this session is how that
    is checked. Pass pytest arguments after ``--``.
    """
    _ensure_chromium(session)
    _install(session, "all", "test")
    session.run("python", "tests/support/busy.py", "--", "python", "-m", "pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/; any warning fails, and so does a remote load."""
    _install(session, "", "docs")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )
    session.run("python", "tests/support/sitecheck.py", "site")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff check, ruff format --check, and the import-linter layer contracts (pyproject.toml)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.install("--no-deps", "-e", ".")  # import-linter finds the package by importing it
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy --strict on src/."""
    _install(session, "all", "typecheck", "test")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """The download benchmark against curl | openssl, pooch and torch.hub (needs nginx)."""
    _install(session, "torch", "bench")
    session.run("python", "benchmarks/bench_download.py", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The readiness checks against the formats' own loaders: a longer differential fuzz run."""
    _install(session, "all", "test")
    session.run(
        "pytest",
        "tests/unit/install/checks/test_checks_fuzz.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"MODEL_FETCH_FUZZ_EXAMPLES": "100"},
    )


@nox.session(name="bench-fleet")
def bench_fleet(session: nox.Session) -> None:
    """The fleet benchmark: N processes with and without a mirror on moto (origin bytes)."""
    _install(session, "s3", "bench-fleet", "test")
    session.run("python", "benchmarks/bench_fleet.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The README's first command, in a nox-managed environment."""
    _install(session, "")
    session.run("python", "examples/quickstart.py", *session.posargs)
