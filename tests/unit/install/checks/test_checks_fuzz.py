"""Differential fuzzing: model_fetch's readiness against each format's own loader.

For each format a small file is written by its own library (torch.save, onnx.helper, gguf's
writer, safetensors), then corrupted at seeded positions (byte flips, truncations, zero length).
The oracle is the library itself: a file is sound when the library loads it and it holds weights
(for torch zips, also when every member matches its CRC, which torch does not check). With the
libraries in use, model_fetch must be ready exactly when the library loads the file; with the
structural checks alone, it must never be ready when the library cannot read the file.

The run is deterministic (derandomized, no example database) and bounded: MODEL_FETCH_FUZZ_EXAMPLES
examples of 8 corrupted files per format (default 3: a few seconds per format); ``nox -s fuzz``
runs a longer one.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from model_fetch.install.checks import (
    BUILTIN_VERIFIERS,
    CheckOptions,
    GgufVerifier,
    OnnxVerifier,
    SafetensorsVerifier,
)
from model_fetch.install.checks._aggregate import judge_model
from strategies import byte_mutations, mutate
from support.model_files import write_gguf, write_onnx, write_safetensors, write_torch

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLES = int(os.environ.get("MODEL_FETCH_FUZZ_EXAMPLES", "3"))
MUTANTS = 8
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the failure names its mutation
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _onnx_loads(path: Path) -> bool:
    import onnx  # noqa: PLC0415 - optional dependency

    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(str(path), full_check=True)
    return len(model.graph.node) > 0


def _gguf_loads(path: Path) -> bool:
    import gguf  # noqa: PLC0415 - optional dependency

    return len(gguf.GGUFReader(str(path)).tensors) > 0


def _safetensors_loads(path: Path) -> bool:
    from safetensors import safe_open  # noqa: PLC0415 - optional dependency

    with safe_open(str(path), framework="numpy") as handle:
        names = list(handle.keys())
        for name in names:
            handle.get_slice(name).get_shape()
    return bool(names)


def _torch_loads(path: Path) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch  # noqa: PLC0415 - optional dependency

        loaded = torch.load(str(path), weights_only=True, map_location="cpu")
    if not isinstance(loaded, dict) or not any(
        isinstance(value, torch.Tensor) for value in loaded.values()
    ):
        return False
    with zipfile.ZipFile(path) as archive:
        return archive.testzip() is None


#: Per format: the library to import, the writer, the file name, and the library's own verdict.
FORMATS: dict[str, tuple[str, Callable[[Path], Path], str, Callable[[Path], bool]]] = {
    "onnx": ("onnx", write_onnx, "model.onnx", _onnx_loads),
    "gguf": ("gguf", write_gguf, "model.gguf", _gguf_loads),
    "safetensors": ("safetensors", write_safetensors, "model.safetensors", _safetensors_loads),
    "torch": ("torch", write_torch, "model.pt", _torch_loads),
}


def library_verdict(loads: Callable[[Path], bool], path: Path) -> bool:
    """True when the format's own library loads the file and it holds weights."""
    try:
        return loads(path)
    except Exception:  # noqa: BLE001 - any refusal of the library counts
        return False


def our_verdicts(paths: list[Path], root: Path, verifiers: Any) -> dict[str, bool]:
    """model_fetch's readiness of each file, all judged in one model check."""
    result = judge_model(paths, list(verifiers), CheckOptions(timeout=60.0), root=root)
    files = result.details["files"]
    return {path.name: files.get(path.name, {}).get("status") == "passed" for path in paths}


def structural_only() -> list[Any]:
    """The built-in verifiers with the format libraries switched off."""
    off = {
        "onnx": OnnxVerifier(use_library=False),
        "gguf": GgufVerifier(use_library=False),
        "safetensors": SafetensorsVerifier(use_library=False),
    }
    return [off.get(verifier.name, verifier) for verifier in BUILTIN_VERIFIERS]


def _fuzz(fmt: str, tmp: Path, mutations: list[tuple[str, int, int]], verifiers: Any) -> None:
    library, write, name, loads = FORMATS[fmt]
    pytest.importorskip(library, reason=f"{library} is the oracle and writes the file")
    base = write(tmp / f"base-{name}")
    data = base.read_bytes()
    root = tmp / f"run-{os.urandom(4).hex()}"
    root.mkdir()
    paths = []
    for index, mutation in enumerate(mutations):
        path = root / f"{index}-{name}"
        path.write_bytes(mutate(data, mutation))
        paths.append(path)
    ours = our_verdicts(paths, root, verifiers)
    for path, mutation in zip(paths, mutations, strict=True):
        theirs = library_verdict(loads, path)
        assert not (ours[path.name] and not theirs), f"{fmt} {mutation}: ready, library refuses"
        if verifiers is BUILTIN_VERIFIERS:
            assert ours[path.name] == theirs, f"{fmt} {mutation}: library loads it, not ready"


def _mutations(size: int) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    return st.lists(byte_mutations(size), min_size=MUTANTS, max_size=MUTANTS)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_ready_agrees_with_the_formats_library(fmt: str, tmp_path: Path) -> None:
    """Corrupted files: model_fetch is ready exactly when the format's own library loads them."""
    library, write, name, _ = FORMATS[fmt]
    pytest.importorskip(library, reason=f"{library} is the oracle and writes the file")
    size = write(tmp_path / f"size-{name}").stat().st_size

    @FUZZ
    @given(_mutations(size))
    def run(mutations: list[tuple[str, int, int]]) -> None:
        _fuzz(fmt, tmp_path, mutations, BUILTIN_VERIFIERS)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "gguf", "safetensors"])
def test_structural_fallback_never_passes_what_the_library_refuses(
    fmt: str, tmp_path: Path
) -> None:
    """Without the libraries, model_fetch never calls ready a file the library refuses.

    The oracle is the library's full check (for ONNX ``onnx.load`` and ``onnx.checker``): GGUF
    and safetensors stand on their structural checks, and an ONNX model whose structure is intact
    is left unchecked without onnx, since only its checker knows operator schemas and shapes.
    """
    library, write, name, _ = FORMATS[fmt]
    pytest.importorskip(library, reason=f"{library} is the oracle and writes the file")
    size = write(tmp_path / f"size-{name}").stat().st_size

    @FUZZ
    @given(_mutations(size))
    def run(mutations: list[tuple[str, int, int]]) -> None:
        _fuzz(fmt, tmp_path, mutations, structural_only())

    run()


def test_an_intact_onnx_model_is_unchecked_without_onnx(tmp_path: Path) -> None:
    """Without onnx installed, an intact ONNX model is not ready and the reason says what to add."""
    _, write, name, _ = FORMATS["onnx"]
    pytest.importorskip("onnx", reason="onnx writes the file")
    path = write(tmp_path / name)
    result = judge_model([path], structural_only(), CheckOptions(), root=tmp_path)
    assert not result.ready
    assert result.details["files"][name]["status"] == "unchecked"
    assert "model_fetch[checks]" in (result.reason or "")
