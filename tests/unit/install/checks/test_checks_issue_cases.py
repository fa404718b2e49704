"""Readiness agrees with each format's own library on the cases where it used not to."""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

import pytest

from model_fetch.install.checks import (
    GgufVerifier,
    SafetensorsVerifier,
    check_file,
    check_model,
    detect_format,
)
from support.model_files import write_gguf, write_onnx, write_safetensors, write_torch


class _Evil:
    """Pickles to ``open(sentinel, "w")``: loading it would create the sentinel."""

    def __init__(self, sentinel: Path) -> None:
        """Remember the sentinel."""
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple[object, ...]:
        """Unpickle by opening the sentinel for writing."""
        return (open, (self.sentinel, "w"))


def _flip(path: Path, offset: int, value: int | None = None) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] = (data[offset] ^ 0xFF) if value is None else value
    path.write_bytes(bytes(data))
    return path


def test_onnx_nested_corruption_is_refused(tmp_path: Path) -> None:
    """A byte flipped inside a node's message makes the ONNX model not ready, as onnx.load says."""
    onnx = pytest.importorskip("onnx", reason="the onnx library is the oracle")
    path = write_onnx(tmp_path / "model.onnx")
    data = path.read_bytes()
    start = data.index(b"Relu") - 2  # the length prefix of the op_type string inside the node
    _flip(path, start, 0x7F)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal of the library
        onnx.load(str(path))
    result = check_file(path)
    assert not result.ready
    assert result.checked in {"onnx.structure", "onnx.checker"}


def test_onnx_checker_refusal_is_not_ready(tmp_path: Path) -> None:
    """A model that parses but that onnx.checker refuses (nodes out of order) is not ready."""
    pytest.importorskip("onnx", reason="the onnx library is the oracle")
    path = write_onnx(tmp_path / "model.onnx", reverse=True)
    result = check_file(path)
    assert not result.ready
    assert result.checked == "onnx.checker"
    assert "onnx.checker refused it" in (result.reason or "")
    assert "topologically sorted" in (result.reason or "")


@pytest.mark.parametrize("use_library", [True, False], ids=["library", "structure"])
def test_gguf_invalid_utf8_key_is_refused(tmp_path: Path, use_library: bool) -> None:
    """Invalid UTF-8 in a GGUF metadata key is not ready, with or without the gguf library."""
    pytest.importorskip("gguf", reason="gguf's writer makes the file")
    path = write_gguf(tmp_path / "model.gguf", key="general.nam\xe9")
    path.write_bytes(path.read_bytes().replace("\xe9".encode(), b"\xff\xfe"))
    result = GgufVerifier(use_library=use_library).check(path)
    assert result is not None
    assert not result.ready
    assert "UTF-8" in (result.reason or "") or "utf-8" in (result.reason or "")


def test_empty_models_are_not_ready(tmp_path: Path) -> None:
    """Files that hold no weights (vocab-only GGUF, no-tensor safetensors, torch dicts) fail."""
    pytest.importorskip("gguf", reason="gguf's writer makes the file")
    pytest.importorskip("safetensors", reason="safetensors writes the file")
    pytest.importorskip("torch", reason="torch.save writes the file")
    files = {
        "vocab.gguf": write_gguf(tmp_path / "vocab.gguf", tensors=0),
        "empty.safetensors": write_safetensors(tmp_path / "empty.safetensors", tensors=0),
        "empty.pt": write_torch(tmp_path / "empty.pt", {}),
        "epoch.pt": write_torch(tmp_path / "epoch.pt", {"epoch": 3}),
    }
    for name, path in files.items():
        result = check_file(path)
        assert not result.ready, name
        assert "no tensors" in (result.reason or ""), (name, result.reason)
    fallback = SafetensorsVerifier(use_library=False).check(files["empty.safetensors"])
    assert fallback is not None
    assert "holds no tensors" in (fallback.reason or "")


def test_torch_zip_crc_mismatch_is_not_ready(tmp_path: Path) -> None:
    """A byte flipped in a torch zip's tensor data fails its CRC, though torch loads it."""
    torch = pytest.importorskip("torch", reason="torch.save writes the file")
    path = write_torch(tmp_path / "model.pt")
    with zipfile.ZipFile(path) as archive:
        info = next(item for item in archive.infolist() if item.filename.endswith("/data/0"))
    local = path.read_bytes()[info.header_offset : info.header_offset + 30]
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    _flip(path, info.header_offset + 30 + name_len + extra_len + 40)
    assert torch.load(path, weights_only=True)  # torch itself loads the changed weights
    result = check_file(path)
    assert not result.ready
    assert result.checked == "zip.crc"
    assert "does not match its CRC-32" in (result.reason or "")


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("extra.dat", "protocol0"),
        ("helper.pkl", "protocol1"),
        ("model.joblib", "protocol4"),
        ("training_args.bin", "protocol2"),
        ("rng_state.pth", "protocol2"),
        ("arrays.npy", "npy"),
        ("arrays.npz", "npz"),
    ],
)
def test_dangerous_pickle_beside_safe_weights(tmp_path: Path, name: str, payload: str) -> None:
    """A code-running pickle anywhere in a model makes it not ready, names the file, never runs."""
    np = pytest.importorskip("numpy", reason="numpy writes the arrays")
    pytest.importorskip("safetensors", reason="safetensors writes the weights")
    sentinel = tmp_path / "SENTINEL"
    model = tmp_path / "model"
    model.mkdir()
    write_safetensors(model / "model.safetensors")
    evil = _Evil(sentinel)
    target = model / name
    if payload.startswith("protocol"):
        target.write_bytes(pickle.dumps({"x": evil}, protocol=int(payload[-1])))
    else:
        array = np.array([evil, 1], dtype=object)
        if payload == "npy":
            np.save(target, array, allow_pickle=True)
        else:
            np.savez(target, a=array)
    assert check_model(model, accept=[name]).ready
    result = check_model(model)
    assert not result.ready
    assert name in result.details["failed"]
    assert f"{name}: " in (result.reason or "")
    assert not sentinel.exists()


def test_html_saved_as_safetensors_fails_saying_so(tmp_path: Path) -> None:
    """A login page saved as model.safetensors is a failed check whose reason says HTML."""
    path = tmp_path / "model.safetensors"
    path.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    result = check_model(tmp_path)
    assert not result.ready
    assert result.details["failed"] == ["model.safetensors"]
    assert "its name says safetensors but its content is HTML" in (result.reason or "")


def test_truncated_zip_checkpoint_says_damaged(tmp_path: Path) -> None:
    """A zip checkpoint cut short says the zip is damaged, not "no check for format unknown"."""
    pytest.importorskip("torch", reason="torch.save writes the file")
    path = write_torch(tmp_path / "pytorch_model.bin")
    path.write_bytes(path.read_bytes()[:-100])
    result = check_model(tmp_path)
    assert not result.ready
    assert "damaged zip" in (result.reason or "")


def test_tensorflow_and_coreml_are_not_misread_as_onnx(tmp_path: Path) -> None:
    """SavedModel and CoreML files are unchecked, not misread; the ONNX beside them is ready."""
    pytest.importorskip("onnx", reason="onnx.helper writes the model")
    write_onnx(tmp_path / "nmp.onnx")
    # Both protobufs start like ONNX: field 1 a small varint, then field 2.
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01\x12\x04abcd")
    (tmp_path / "model.mlmodel").write_bytes(b"\x08\x04\x12\x02ab")
    weights = tmp_path / "nmp.mlpackage" / "Data" / "com.apple.CoreML" / "weights"
    weights.mkdir(parents=True)
    (weights / "weight.bin").write_bytes(struct.pack("<II", 1, 2) + bytes(56))
    assert detect_format(tmp_path / "saved_model.pb") == "tf-savedmodel"
    assert detect_format(tmp_path / "model.mlmodel") == "coreml"
    assert detect_format(weights / "weight.bin") == "coreml"
    result = check_model(tmp_path)
    assert result.ready, result.reason
    assert result.details["passed"] == ["nmp.onnx"]
    assert (
        result.details["files"]["saved_model.pb"]["reason"] == "no check for format tf-savedmodel"
    )


def test_newer_gguf_tensor_types_are_known(tmp_path: Path) -> None:
    """GGUF tensor type 40 (NVFP4) passes the structural check; an unknown one is unsupported."""

    def gguf(type_id: int, block_bytes: int) -> Path:
        def string(text: bytes) -> bytes:
            return struct.pack("<Q", len(text)) + text

        out = b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
        out += string(b"w") + struct.pack("<I", 1) + struct.pack("<Q", 64)
        out += struct.pack("<IQ", type_id, 0)
        out += bytes(-len(out) % 32) + bytes(block_bytes)
        path = tmp_path / f"t{type_id}.gguf"
        path.write_bytes(out)
        return path

    structural = GgufVerifier(use_library=False)
    assert structural.check(gguf(40, 36)).ready  # type: ignore[union-attr]
    unknown = structural.check(gguf(250, 36))
    assert unknown is not None
    assert unknown.checked is None
    assert (unknown.reason or "").startswith("unsupported: ")
