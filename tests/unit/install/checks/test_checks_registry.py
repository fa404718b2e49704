"""The verifier registry: built-ins and plugins alike, entry points read on first lookup."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from model_fetch.exceptions import InvalidRequest
from model_fetch.install.checks import (
    BUILTIN_VERIFIERS,
    ENTRY_POINT_GROUP,
    Readiness,
    SafetensorsVerifier,
    Verifier,
    VerifierRegistry,
    available_verifiers,
    get_verifier,
    registry,
)

BUILTIN_NAMES = ["safetensors", "torch", "gguf", "onnx", "pickle", "unrecognised"]


class _Policy:
    """A plain plugin verifier: passes every README.md."""

    name = "policy"

    def check(self, path: Path) -> Readiness | None:
        if path.name != "README.md":
            return None
        return Readiness(ready=True, checked="policy", reason=None)


def _plugin_site(site: Path, dist: str, entry_points: dict[str, str], module: str = "") -> Path:
    """Lay out an installed distribution (dist-info and one module) on a directory for sys.path."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    if module:
        (site / f"{dist}.py").write_text(module)
    return site


PLUGIN_MODULE = (
    "from model_fetch.install import Readiness\n"
    "class Card:\n"
    "    name = 'card'\n"
    "    def check(self, path):\n"
    "        return None\n"
    "instance = Card()\n"
    "not_a_verifier = 42\n"
    "class Nameless:\n"
    "    def check(self, path):\n"
    "        return None\n"
)


def test_builtins_are_lazy_dotted_paths_until_first_use() -> None:
    """The built-in checks are registered by name as dotted paths and built on first use."""
    reg = VerifierRegistry(group=None)
    assert reg.names() == BUILTIN_NAMES
    assert all(isinstance(entry, str) for entry in reg.entries.values())
    assert (
        reg.entries["safetensors"] == "model_fetch.install.checks._safetensors:SafetensorsVerifier"
    )
    verifier = reg.get("safetensors")
    assert isinstance(verifier, SafetensorsVerifier)
    assert reg.entries["safetensors"] is verifier
    assert reg.get("safetensors") is verifier


def test_builtins_are_verifiers_like_plugins() -> None:
    """Every built-in check satisfies the same Verifier protocol a plugin implements."""
    verifiers = VerifierRegistry(group=None).verifiers()
    assert [verifier.name for verifier in verifiers] == BUILTIN_NAMES
    assert all(isinstance(verifier, Verifier) for verifier in verifiers)
    assert [type(v) for v in verifiers] == [type(v) for v in BUILTIN_VERIFIERS]


def test_the_view_is_read_only() -> None:
    """Neither the registry's view nor the module-level view can be written to."""
    reg = VerifierRegistry(group=None)
    reg.names()
    with pytest.raises(TypeError):
        reg.entries["evil"] = _Policy()  # type: ignore[index]
    with pytest.raises(TypeError):
        registry["evil"] = _Policy()  # type: ignore[index]


def test_register_refuses_silent_override() -> None:
    """A taken name, a built-in's too, is replaced only with clobber=True."""
    reg = VerifierRegistry(group=None)
    reg.register("policy", _Policy)
    with pytest.raises(InvalidRequest, match="already registered") as caught:
        reg.register("policy", _Policy())
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidRequest, match="already registered"):
        reg.register("safetensors", _Policy())
    replacement = _Policy()
    reg.register("safetensors", replacement, clobber=True)
    assert reg.get("safetensors") is replacement
    assert reg.names() == [*BUILTIN_NAMES, "policy"]
    with pytest.raises(InvalidRequest, match="non-empty"):
        reg.register("", _Policy())


def test_register_accepts_an_instance_a_class_or_a_dotted_path() -> None:
    """A run-time registration may be an instance, a class built once, or a lazy dotted path."""
    reg = VerifierRegistry(group=None)
    instance = _Policy()
    reg.register("a", instance)
    reg.register("b", _Policy)
    reg.register("c", "model_fetch.install.checks._gguf:GgufVerifier")
    assert reg.get("a") is instance
    built = reg.get("b")
    assert isinstance(built, _Policy)
    assert reg.get("b") is built
    assert reg.get("c").name == "gguf"
    assert [verifier.name for verifier in reg.verifiers()][-3:] == ["policy", "policy", "gguf"]


def test_unknown_or_unloadable_names_raise() -> None:
    """get() names the registered verifiers for an unknown name and explains a failed load."""
    reg = VerifierRegistry(group=None)
    reg.register("missing", "no_such_module_anywhere:Thing")
    with pytest.raises(InvalidRequest, match=r"Unknown verifier 'nope'.*safetensors"):
        reg.get("nope")
    with pytest.raises(InvalidRequest, match="cannot be loaded"):
        reg.get("missing")


def test_entry_points_are_read_on_first_lookup_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plugins installed before the first lookup are found; the group is read once, not at build."""
    reg = VerifierRegistry()
    site = _plugin_site(
        tmp_path / "one",
        "mf_registry_plugin_one",
        {"card": "mf_registry_plugin_one:instance"},
        PLUGIN_MODULE,
    )
    monkeypatch.syspath_prepend(str(site))
    assert reg.entries == {}
    assert "card" in reg.names()
    assert reg.entries["card"] == "mf_registry_plugin_one:instance"
    later = _plugin_site(
        tmp_path / "two",
        "mf_registry_plugin_two",
        {"late": "mf_registry_plugin_two:Card"},
        PLUGIN_MODULE,
    )
    monkeypatch.syspath_prepend(str(later))
    assert "late" not in reg.names()
    assert [verifier.name for verifier in reg.verifiers()] == [*BUILTIN_NAMES, "card"]


def test_broken_plugins_are_logged_and_skipped_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A plugin that fails to load, or is no verifier, is logged once and skipped; others run."""
    site = _plugin_site(
        tmp_path,
        "mf_registry_plugin_broken",
        {
            "card": "mf_registry_plugin_broken:Card",
            "gone": "mf_registry_no_such_module:Thing",
            "number": "mf_registry_plugin_broken:not_a_verifier",
            "nameless": "mf_registry_plugin_broken:Nameless",
            "torch": "mf_registry_plugin_broken:Card",
        },
        PLUGIN_MODULE,
    )
    monkeypatch.syspath_prepend(str(site))
    reg = VerifierRegistry()
    with caplog.at_level(logging.WARNING, logger="model_fetch"):
        names = [verifier.name for verifier in reg.verifiers()]
    assert names == [*BUILTIN_NAMES, "card"]
    messages = [record.getMessage() for record in caplog.records]
    assert any("Ignoring entry point 'torch'" in message for message in messages)
    assert any("Cannot load the verifier plugin 'gone'" in message for message in messages)
    assert any("'number'" in message and "it is skipped" in message for message in messages)
    assert any("'nameless'" in message and "no name and check()" in message for message in messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="model_fetch"):
        assert [verifier.name for verifier in reg.verifiers()] == names
    assert caplog.records == []


def test_module_level_functions_use_the_process_registry() -> None:
    """available_verifiers() lists the built-in checks first; get_verifier() finds them by name."""
    names = [verifier.name for verifier in available_verifiers()]
    assert names[: len(BUILTIN_NAMES)] == BUILTIN_NAMES
    assert get_verifier("onnx") is get_verifier("onnx")
    assert list(registry)[: len(BUILTIN_NAMES)] == BUILTIN_NAMES


def test_import_reads_no_verifier_entry_points() -> None:
    """Importing reads no entry points; the first verifier lookup reads the group once."""
    code = (
        "import importlib.metadata as md\n"
        "calls = []\n"
        "real = md.entry_points\n"
        "md.entry_points = lambda **kw: calls.append(kw) or real(**kw)\n"
        "import model_fetch.install\n"
        "print(len(calls))\n"
        "model_fetch.install.available_verifiers()\n"
        "model_fetch.install.available_verifiers()\n"
        "print(calls)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n", 1) == ["0", "[{'group': 'model_fetch.verifiers'}]\n"]
