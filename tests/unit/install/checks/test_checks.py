"""Readiness checks: format sniffing, safetensors/GGUF/ONNX structure, sandboxed torch loads."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import pickle
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from model_fetch._models import InstallResult
from model_fetch.exceptions import InvalidRequest, ModelNotFound
from model_fetch.install import _torch_probe
from model_fetch.install._torch_probe import globals_in_pickle, version_tuple
from model_fetch.install.checks import (
    BUILTIN_VERIFIERS,
    BuiltinVerifier,
    PickleVerifier,
    Readiness,
    TorchVerifier,
    VerifierRegistry,
    available_verifiers,
    check_file,
    check_gguf,
    check_model,
    check_onnx,
    check_safetensors,
    check_torch,
    detect_format,
    memory_limit_for,
)
from model_fetch.torch import find_weights_file, load_state_dict

GIB = 1 << 30


def _torch() -> Any:
    """Import torch without tripping filterwarnings=error on its numpy warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("torch", reason="needs the torch extra")


def _state_dict() -> dict[str, Any]:
    torch = _torch()
    return {
        "layer.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "layer.bias": torch.ones(2),
    }


def _save_zip(path: Path) -> Path:
    _torch().save(_state_dict(), path)
    return path


def _save_legacy(path: Path) -> Path:
    _torch().save(_state_dict(), path, _use_new_zipfile_serialization=False)
    return path


class CustomConfig:
    """A class a checkpoint may pickle: not allowed by weights_only."""

    def __init__(self) -> None:
        """Hold one setting."""
        self.hidden = 4


class OpenSentinel:
    """Pickles to ``open(sentinel, "w")``: running it creates the sentinel file."""

    def __init__(self, sentinel: Path) -> None:
        """Remember the sentinel's path."""
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple[Any, ...]:
        """Unpickle by opening the sentinel for writing."""
        return (open, (self.sentinel, "w"))


class TouchSentinel:
    """Pickles to ``os.system("touch sentinel")``."""

    def __init__(self, sentinel: Path) -> None:
        """Remember the sentinel's path."""
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple[Any, ...]:
        """Unpickle by running a shell command that creates the sentinel."""
        return (os.system, (f"touch {self.sentinel}",))


def _malicious_zip(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
    return path


# safetensors, written by hand --------------------------------------------------------------

_ST_SIZES = {"F32": 4, "F16": 2, "I64": 8, "U8": 1}


def _write_safetensors(
    path: Path,
    tensors: dict[str, tuple[str, list[int]]] | None = None,
    *,
    metadata: Any = None,
    edit: Any = None,
    raw_header: bytes | None = None,
    header_len: int | None = None,
    extra: bytes = b"",
) -> Path:
    tensors = {"a": ("F32", [2, 3]), "b": ("I64", [4])} if tensors is None else tensors
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = _ST_SIZES[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata is not None:
        header["__metadata__"] = metadata
    if edit is not None:
        edit(header)
    body = raw_header if raw_header is not None else json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    length = len(body) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", length) + body + bytes(offset) + extra)
    return path


# GGUF and ONNX, written by hand ------------------------------------------------------------


def _gguf(
    path: Path,
    *,
    version: int = 3,
    tensor_type: int = 0,
    dims: tuple[int, ...] = (4, 2),
    truncate: int = 0,
) -> Path:
    def string(text: bytes) -> bytes:
        return struct.pack("<Q", len(text)) + text

    out = b"GGUF" + struct.pack("<IQQ", version, 1, 1)
    out += string(b"general.architecture") + struct.pack("<I", 8) + string(b"llama")
    out += string(b"w") + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
    out += struct.pack("<IQ", tensor_type, 0)
    out += bytes(-len(out) % 32)
    out += bytes(4 * dims[0] * dims[1])
    path.write_bytes(out[: len(out) - truncate])
    return path


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _pb(field: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(field << 3) + _varint(value)
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _onnx(path: Path, *, external: str | None = None, truncate: int = 0) -> Path:
    node = _pb(1, b"x") + _pb(2, b"y") + _pb(4, b"Identity")
    initializer = _pb(1, 2) + _pb(2, 1) + _pb(8, b"w")
    if external is None:
        initializer += _pb(9, bytes(8))  # raw_data
    else:
        initializer += _pb(13, _pb(1, b"location") + _pb(2, external.encode())) + _pb(14, 1)
    graph = _pb(1, node) + _pb(2, b"g") + _pb(5, initializer) + _pb(11, _pb(1, b"x"))
    model = _pb(1, 8) + _pb(2, b"model_fetch-tests") + _pb(7, graph) + _pb(8, _pb(2, 17))
    path.write_bytes(model[: len(model) - truncate])
    return path


# Format detection --------------------------------------------------------------------------


def test_detect_format_from_content_not_extension(tmp_path: Path) -> None:
    """Formats are recognised by their bytes, whatever the file is called."""
    assert detect_format(_write_safetensors(tmp_path / "weights.bin")) == "safetensors"
    assert detect_format(_save_zip(tmp_path / "model.dat")) == "torch-zip"
    assert detect_format(_save_legacy(tmp_path / "model.safetensors")) == "torch-pickle"
    assert detect_format(_gguf(tmp_path / "model.bin")) == "gguf"
    assert detect_format(_onnx(tmp_path / "model.pb")) == "onnx"
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    assert detect_format(raw) == "torch-pickle"
    config = tmp_path / "config.json"
    config.write_text('{"key": {"nested": true}}')  # byte 8 is '{': still not safetensors
    assert detect_format(config) == "unknown"
    plain_zip = tmp_path / "archive.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hi")
    assert detect_format(plain_zip) == "unknown"
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert detect_format(tmp_path / "empty.onnx") == "unknown"


def test_detect_torchscript(tmp_path: Path) -> None:
    """A torch.jit.save archive is TorchScript, not a plain zip checkpoint."""
    path = _torchscript(tmp_path / "scripted.pt")
    assert detect_format(path) == "torchscript"


def _torchscript(path: Path) -> Path:
    torch = _torch()

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, x):  # unannotated: TorchScript reads it as a Tensor
            return self.linear(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(Tiny()), str(path))
    return path


# safetensors -------------------------------------------------------------------------------


def test_safetensors_valid_header(tmp_path: Path) -> None:
    """A well-formed safetensors file passes the header check, with its facts."""
    path = _write_safetensors(tmp_path / "model.safetensors", metadata={"format": "pt"})
    result = check_safetensors(path)
    assert result.ready
    assert result.checked == "safetensors.header"
    assert result.reason is None
    assert result.details["tensors"] == 2
    assert result.details["parameters"] == 10
    assert result.details["dtypes"] == ["F32", "I64"]
    assert result.to_dict() == {"checked": "safetensors.header", "reason": None}


def _shape_mismatch(header: dict[str, Any]) -> None:
    header["a"]["shape"] = [3, 3]


def _offsets_beyond(header: dict[str, Any]) -> None:
    header["b"]["data_offsets"] = [24, 24 + 32 + 8]
    header["b"]["shape"] = [5]


def _bad_dtype(header: dict[str, Any]) -> None:
    header["a"]["dtype"] = "F33"


def _overlap(header: dict[str, Any]) -> None:
    header["b"]["data_offsets"] = [16, 48]


def _negative_dim(header: dict[str, Any]) -> None:
    header["b"]["shape"] = [-4]


def _float_dim(header: dict[str, Any]) -> None:
    header["b"]["shape"] = [4.0]


CORRUPT_SAFETENSORS = {
    "huge header length": ({"header_len": 1 << 40}, "header too large"),
    "header longer than file": ({"header_len": 10_000}, "exceeds the file"),
    "shape-offset mismatch": ({"edit": _shape_mismatch}, "needs 36"),
    "offsets beyond the file": ({"edit": _offsets_beyond}, "beyond"),
    "bad dtype": ({"edit": _bad_dtype}, "unknown dtype 'F33'"),
    "overlapping offsets": ({"edit": _overlap}, "overlaps"),
    "negative dimension": ({"edit": _negative_dim}, "non-negative integers"),
    "float dimension": ({"edit": _float_dim}, "non-negative integers"),
    "metadata not str->str": ({"metadata": {"epochs": 3}}, "__metadata__"),
    "trailing bytes": ({"extra": b"junk"}, "cover 56 bytes but the data section has 60"),
    "duplicate key": ({"raw_header": b'{"a": {}, "a": {}}'}, "duplicate key"),
    "not JSON": ({"raw_header": b"{not json"}, "not valid JSON"),
    "NaN": ({"raw_header": b'{"__metadata__": NaN}'}, "NaN"),
}


@pytest.mark.parametrize("case", list(CORRUPT_SAFETENSORS), ids=list(CORRUPT_SAFETENSORS))
def test_safetensors_corrupt_headers_rejected(tmp_path: Path, case: str) -> None:
    """Each corruption of a safetensors header is caught, with the problem named."""
    kwargs, expected = CORRUPT_SAFETENSORS[case]
    path = _write_safetensors(tmp_path / "model.safetensors", **kwargs)
    result = check_safetensors(path)
    assert not result.ready
    assert result.checked == "safetensors.header"
    assert expected in (result.reason or "")


def test_safetensors_limits(tmp_path: Path) -> None:
    """The header-size and tensor-count limits are enforced."""
    path = _write_safetensors(tmp_path / "model.safetensors")
    assert "header too large" in (check_safetensors(path, max_header_bytes=16).reason or "")
    assert "exceed the limit of 1" in (check_safetensors(path, max_tensors=1).reason or "")


def test_safetensors_agrees_with_the_library(tmp_path: Path) -> None:
    """Where the safetensors library accepts or rejects a file, so does the header check."""
    safetensors = pytest.importorskip("safetensors")
    _torch()
    cases: dict[str, dict[str, Any]] = {"valid": {}} | {
        name: kwargs for name, (kwargs, _) in CORRUPT_SAFETENSORS.items()
    }
    for name, kwargs in cases.items():
        path = _write_safetensors(tmp_path / f"{name.replace(' ', '_')}.safetensors", **kwargs)
        try:
            with safetensors.safe_open(str(path), framework="pt") as handle:
                list(handle.keys())
            library_ok = True
        except Exception:  # noqa: BLE001 - any refusal counts
            library_ok = False
        ours = check_safetensors(path).ready
        # We may be stricter (duplicate keys, NaN), never laxer.
        assert not (ours and not library_ok), name
        if library_ok and name not in {"duplicate key", "NaN"}:
            assert ours, name


# GGUF and ONNX -----------------------------------------------------------------------------


def test_gguf_structure_checked(tmp_path: Path) -> None:
    """A sound GGUF passes; truncation, old versions and unknown types do not."""
    good = check_gguf(_gguf(tmp_path / "good.gguf"))
    assert good.ready
    assert good.checked == "gguf.header"
    assert good.details["tensors"] == 1
    truncated = check_gguf(_gguf(tmp_path / "cut.gguf", truncate=5))
    assert not truncated.ready
    assert "runs past the end" in (truncated.reason or "")
    old = check_gguf(_gguf(tmp_path / "v1.gguf", version=1))
    assert "unsupported GGUF version 1" in (old.reason or "")
    unknown = check_gguf(_gguf(tmp_path / "new.gguf", tensor_type=250))
    assert (unknown.reason or "").startswith("unsupported: ")
    assert unknown.checked is None
    (tmp_path / "magic.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 0))
    absurd = check_file(tmp_path / "magic.gguf")
    assert not absurd.ready
    assert "cannot fit" in (absurd.reason or "")


def test_onnx_structure_checked(tmp_path: Path) -> None:
    """A well-framed ONNX model passes; truncation and missing external data do not."""
    good = check_onnx(_onnx(tmp_path / "model.onnx"))
    assert good.ready
    assert good.checked == "onnx.structure"
    assert good.details["nodes"] == 1
    assert good.details["initializers"] == 1
    cut = check_onnx(_onnx(tmp_path / "cut.onnx", truncate=3))
    assert not cut.ready
    missing = check_onnx(_onnx(tmp_path / "ext.onnx", external="weights.data"))
    assert "is missing" in (missing.reason or "")
    (tmp_path / "weights.data").write_bytes(bytes(8))
    assert check_onnx(tmp_path / "ext.onnx").ready
    escape = check_onnx(_onnx(tmp_path / "escape.onnx", external="../secret"))
    assert "unsafe external data location" in (escape.reason or "")


def test_unknown_format_has_no_check(tmp_path: Path) -> None:
    """Content of no known format is never guessed ready."""
    path = tmp_path / "weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    result = check_file(path)
    assert not result.ready
    assert result.checked is None
    assert result.reason == "no check for format hdf5"


# torch: in a subprocess --------------------------------------------------------------------


def test_check_model_directory_with_config_and_weights(tmp_path: Path) -> None:
    """Config, tokenizer and weights are ready; a trainer pickle fails until accepted by name."""
    pytest.importorskip("safetensors", reason="the safetensors library names the check")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"architectures": ["Tiny"], "hidden": {"size": 4}}')
    (model / "tokenizer.json").write_text("{}")
    (model / "training_args.bin").write_bytes(pickle.dumps(CustomConfig(), protocol=2))
    _write_safetensors(model / "model.safetensors")
    _save_zip(model / "pytorch_model.bin")
    _save_legacy(model / "legacy.pth")
    refused = check_model(model)
    assert refused.details["failed"] == ["training_args.bin"]
    assert "CustomConfig" in (refused.reason or "")
    result = check_model(model, accept=["training_args.bin"])
    assert result.ready, result.reason
    assert result.checked == "safetensors.safe_open+torch.weights_only"
    assert sorted(result.details["passed"]) == [
        "legacy.pth",
        "model.safetensors",
        "pytorch_model.bin",
    ]
    assert set(result.details["files"]) == {"legacy.pth", "model.safetensors", "pytorch_model.bin"}
    assert result.details["files"]["pytorch_model.bin"]["format"] == "torch-zip"


@pytest.mark.slow
def test_malicious_pickles_beside_safe_weights_are_not_ready_without_torch(tmp_path: Path) -> None:
    """Without torch, a code-running pickle beside valid safetensors still fails the model."""
    sentinel = tmp_path / "SENTINEL"
    model = tmp_path / "model"
    model.mkdir()
    (model / "raw.bin").write_bytes(pickle.dumps({"w": TouchSentinel(sentinel)}, protocol=2))
    _malicious_zip(model / "zipped.pt", pickle.dumps({"w": OpenSentinel(sentinel)}, protocol=4))
    _write_safetensors(model / "model.safetensors")
    no_torch = [
        TorchVerifier(torch_version=lambda: None),
        PickleVerifier(torch_loads=lambda: False),
        *(v for v in available_verifiers() if v.name not in {"torch", "pickle"}),
    ]
    result = check_model(model, verifiers=no_torch)
    assert not result.ready
    assert sorted(result.details["failed"]) == ["raw.bin", "zipped.pt"]
    assert "io.open" in result.details["files"]["zipped.pt"]["reason"]
    assert not sentinel.exists()


def test_malicious_pickles_not_ready_and_never_run(tmp_path: Path) -> None:
    """Raw and zipped malicious pickles are refused with their globals; their code never runs."""
    _torch()  # the reasons checked here are torch's own
    sentinel = tmp_path / "SENTINEL"
    model = tmp_path / "model"
    model.mkdir()
    (model / "raw.bin").write_bytes(pickle.dumps({"w": TouchSentinel(sentinel)}, protocol=2))
    (model / "raw4.pt").write_bytes(pickle.dumps({"w": OpenSentinel(sentinel)}, protocol=4))
    _malicious_zip(model / "zipped.bin", pickle.dumps({"w": OpenSentinel(sentinel)}, protocol=5))
    _write_safetensors(model / "model.safetensors")
    result = check_model(model)
    assert not result.ready
    assert sorted(result.details["failed"]) == ["raw.bin", "raw4.pt", "zipped.bin"]
    system = f"{os.system.__module__}.system"
    assert f"raw.bin: torch.load(weights_only=True) refused it: it needs the globals {system}" in (
        result.reason or ""
    )
    assert result.details["files"]["raw4.pt"]["reason"].count("io.open") == 1
    assert "io.open" in result.details["files"]["zipped.bin"]["reason"]
    assert "never retried with weights_only=False" in (result.reason or "")
    assert not sentinel.exists()

    zipped = _malicious_zip(
        tmp_path / "evil.pt", pickle.dumps({"w": OpenSentinel(sentinel)}, protocol=2)
    )
    single = check_torch(zipped)
    assert not single.ready
    assert single.checked == "torch.weights_only"
    assert single.details["unsafe_globals"] == ["io.open"]
    assert not sentinel.exists()


def test_custom_class_global_listed(tmp_path: Path) -> None:
    """A checkpoint that pickles a custom class is not ready, and the class is named."""
    torch = _torch()
    path = tmp_path / "checkpoint.pt"
    torch.save({"state": _state_dict(), "config": CustomConfig()}, path)
    result = check_torch(path)
    assert not result.ready
    assert result.details["unsafe_globals"] == [f"{CustomConfig.__module__}.CustomConfig"]
    assert "CustomConfig" in (result.reason or "")


def test_torchscript_refused_unless_allowed(tmp_path: Path) -> None:
    """TorchScript is not loaded by default, and is loaded (and counted) when allowed."""
    path = _torchscript(tmp_path / "scripted.pt")
    refused = check_torch(path)
    assert not refused.ready
    assert refused.checked is None
    assert (refused.reason or "").startswith("TorchScript runs code when loaded; not loaded")
    model = check_model([path])
    assert not model.ready
    assert model.details["unchecked"] == ["scripted.pt"]
    allowed = check_torch(path, allow_torchscript=True)
    assert allowed.ready, allowed.reason
    assert allowed.checked == "torch.jit"
    assert allowed.details["tensors"] == 2


def test_timeout_and_memory_limit_reported(tmp_path: Path) -> None:
    """A load that exceeds its time or address-space budget is not ready, with a clear reason."""
    path = _save_zip(tmp_path / "model.pt")
    slow = check_torch(path, timeout=0.001)
    assert not slow.ready
    assert "timed out" in (slow.reason or "")
    starved = check_torch(path, memory_limit=256 * 1024 * 1024)
    assert not starved.ready
    assert "out of memory under its 256 MiB address-space limit" in (starved.reason or "")


def test_memory_limit_formula() -> None:
    """The subprocess gets three times the file plus 2 GiB of address space."""
    assert memory_limit_for(0) == 2 * GIB
    assert memory_limit_for(GIB) == 5 * GIB


def test_torch_missing_or_too_old(tmp_path: Path) -> None:
    """Without torch, or with a torch older than 2.6, nothing is loaded and the reason says why."""
    path = _save_zip(tmp_path / "model.pt")
    missing = TorchVerifier(torch_version=lambda: None).check(path)
    assert missing == Readiness(
        ready=False,
        checked=None,
        reason="torch is not installed (pip install 'model_fetch[torch]')",
    )
    old_torch = TorchVerifier(torch_version=lambda: "2.5.1")
    old = old_torch.check(path)
    assert old is not None
    assert not old.ready
    assert "torch 2.5.1 is too old" in (old.reason or "")
    assert "CVE-2025-32434" in (old.reason or "")
    model = check_model(path, verifiers=[old_torch])
    assert model.details["unchecked"] == ["model.pt"]
    assert "torch 2.5.1 is too old" in (model.reason or "")


# check_model and verifiers -----------------------------------------------------------------


def test_check_model_without_weights_or_with_garbage(tmp_path: Path) -> None:
    """No weights file is not ready; a .bin of unrecognised content fails."""
    (tmp_path / "config.json").write_text("{}")
    empty = check_model(tmp_path)
    assert not empty.ready
    assert empty.reason == "no weights file found among 1 file(s)"
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a checkpoint at all")
    garbage = check_model(tmp_path)
    assert not garbage.ready
    assert garbage.details["failed"] == ["pytorch_model.bin"]


def _dist_with_entry_points(site: Path, dist: str, entry_points: str) -> None:
    """Lay out an installed distribution on ``site`` whose only content is its entry points."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_plugin_verifier_can_veto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins load lazily from entry points; a plugin's ready=False makes the model not ready."""
    model = tmp_path / "model"
    model.mkdir()
    _write_safetensors(model / "model.safetensors")
    assert check_model(model, verifiers=[BuiltinVerifier()]).ready
    site = tmp_path / "site"
    site.mkdir()
    (site / "mf_veto_plugin.py").write_text(
        "from model_fetch.install import Readiness\n"
        "class Rejecting:\n"
        "    name = 'rejecting'\n"
        "    def check(self, path):\n"
        "        if path.suffix != '.safetensors':\n"
        "            return None\n"
        "        return Readiness(ready=False, checked='policy', reason='licence not accepted')\n"
    )
    _dist_with_entry_points(
        site,
        "mf_veto_plugin",
        "[model_fetch.verifiers]\n"
        "rejecting = mf_veto_plugin:Rejecting\n"
        "broken = missing.module:Nothing\n",
    )
    monkeypatch.syspath_prepend(str(site))
    registry = VerifierRegistry()
    verifiers = registry.verifiers()
    assert [verifier.name for verifier in verifiers] == [
        *(builtin.name for builtin in BUILTIN_VERIFIERS),
        "rejecting",
    ]
    assert "broken" in registry.names()
    result = check_model(model, verifiers=verifiers)
    assert not result.ready
    assert result.reason == "model.safetensors: licence not accepted"


def test_builtin_verifier_ignores_non_weights(tmp_path: Path) -> None:
    """The built-in verifier answers None for files that hold no weights."""
    (tmp_path / "config.json").write_text("{}")
    assert BuiltinVerifier().check(tmp_path / "config.json") is None
    assert BuiltinVerifier().check(_write_safetensors(tmp_path / "m.safetensors")) is not None


# The probe's static pickle scan ------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(6))
def test_static_scan_finds_globals_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    """The opcode scan names the globals of any pickle protocol without unpickling it."""
    sentinel = tmp_path / "SENTINEL"
    data = pickle.dumps([OpenSentinel(sentinel), pathlib.PurePosixPath("x")], protocol=protocol)
    path = tmp_path / "p.pkl"
    path.write_bytes(data)
    with path.open("rb") as stream:
        found = globals_in_pickle(stream)
    assert "io.open" in found
    assert "pathlib.PurePosixPath" in found
    assert not sentinel.exists()


def test_version_tuple() -> None:
    """Versions compare by their numeric release only."""
    assert version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert version_tuple("2.6.0rc1") == (2, 6, 0)
    assert version_tuple("2.5.1") < (2, 6)


# load_state_dict ---------------------------------------------------------------------------


def _install_result(directory: Path, file_path: Path) -> InstallResult:
    return InstallResult(
        model_name="tiny",
        version="1",
        file_path=str(file_path),
        size_bytes=1,
        download_duration_seconds=0.0,
        checksum_verified=True,
        installed_at=dt.datetime.now(dt.UTC),
        model_id="tiny:1",
        ready_for_inference=True,
        readiness={},
        directory=str(directory),
    )


def test_load_state_dict_round_trip(tmp_path: Path) -> None:
    """A saved state dict comes back equal, from a file, a directory or an install result."""
    torch = _torch()
    path = _save_zip(tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "training_args.bin").write_bytes(b"ignored")
    expected = _state_dict()
    for source in (path, tmp_path, str(tmp_path), _install_result(tmp_path, tmp_path)):
        loaded = load_state_dict(source)
        assert loaded.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(loaded[key], value)
    legacy = load_state_dict(_save_legacy(tmp_path / "legacy.pt"))
    assert torch.equal(legacy["layer.bias"], expected["layer.bias"])


def test_load_state_dict_safetensors(tmp_path: Path) -> None:
    """A safetensors file loads through safetensors.torch, even when named .bin."""
    pytest.importorskip("safetensors")
    torch = _torch()
    path = _write_safetensors(tmp_path / "weights.bin")
    loaded = load_state_dict(path)
    assert loaded["a"].shape == (2, 3)
    assert loaded["b"].dtype == torch.int64


def test_load_state_dict_refusals(tmp_path: Path) -> None:
    """Ambiguous, missing, TorchScript and malicious inputs raise clear errors; nothing runs."""
    _torch()
    sentinel = tmp_path / "SENTINEL"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "model.bin").write_bytes(pickle.dumps(TouchSentinel(sentinel), protocol=2))
    with pytest.raises(InvalidRequest, match=r"refused model\.bin") as caught:
        load_state_dict(evil)
    assert "weights_only=False" in str(caught.value)
    assert not sentinel.exists()
    _save_zip(evil / "other.pt")
    with pytest.raises(InvalidRequest, match="Several weights files"):
        find_weights_file(evil)
    with pytest.raises(ModelNotFound):
        load_state_dict(tmp_path / "nowhere")
    with pytest.raises(InvalidRequest, match="TorchScript"):
        load_state_dict(_torchscript(tmp_path / "scripted.pt"))
    with pytest.raises(InvalidRequest, match="not a safetensors or PyTorch"):
        load_state_dict(_gguf(tmp_path / "model.bin"))


def test_probe_imports_nothing_from_model_fetch() -> None:
    """The probe is a standalone script: it imports only the standard library and torch."""
    probe = Path(_torch_probe.__file__)
    source = probe.read_text()
    assert "import model_fetch" not in source
    assert "from model_fetch" not in source
