"""Format detection: from the bytes, once per file, and the detected format is what checks use."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from model_fetch.install.checks import (
    FORMATS,
    CheckOptions,
    ModelFile,
    available_verifiers,
    check_model,
    detect_file,
    detect_format,
    is_auxiliary,
    is_weights,
)
from model_fetch.install.checks._aggregate import judge_model


def _safetensors(path: Path) -> Path:
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    return path


class _CountingDetector:
    """Counts the detections, and may lie about the format to show nobody detects again."""

    def __init__(self, lie: str | None = None) -> None:
        self.calls: list[Path] = []
        self.lie = lie

    def __call__(self, path: Path) -> ModelFile:
        self.calls.append(path)
        found = detect_file(path)
        return found if self.lie is None else ModelFile(path=path, format=self.lie)


def test_each_file_is_detected_once_for_all_verifiers(tmp_path: Path) -> None:
    """A model check reads each file's format once, however many verifiers run."""
    paths = [
        _safetensors(tmp_path / "model.safetensors"),
        _safetensors(tmp_path / "other.bin"),
        tmp_path / "config.json",
    ]
    paths[2].write_text("{}")
    detector = _CountingDetector()
    verifiers = [*available_verifiers(), *available_verifiers()]
    result = judge_model(paths, verifiers, CheckOptions(), root=tmp_path, detect=detector)
    assert result.ready
    assert sorted(detector.calls) == sorted(paths)


def test_checks_use_the_detected_format(tmp_path: Path) -> None:
    """The built-in checks judge by the format they are given, without detecting it again."""
    path = _safetensors(tmp_path / "model.safetensors")
    assert check_model(path).ready
    detector = _CountingDetector(lie="unknown")
    result = judge_model([path], available_verifiers(), CheckOptions(), detect=detector)
    assert not result.ready
    assert (result.reason or "").startswith(
        "model.safetensors: its name says safetensors but its content is"
    )
    assert result.details["files"]["model.safetensors"]["format"] == "unknown"
    lying = judge_model(
        [path], available_verifiers(), CheckOptions(), detect=_CountingDetector("gguf")
    )
    assert lying.details["failed"] == ["model.safetensors"]
    assert "invalid GGUF file" in (lying.reason or "") or "gguf.reader refused it" in (
        lying.reason or ""
    )


def test_unreadable_file_is_unknown_with_its_error(tmp_path: Path) -> None:
    """A file that cannot be read is detected as unknown and carries the error; nothing raises."""
    found = detect_file(tmp_path / "missing.bin")
    assert found.format == "unknown"
    assert found.error is not None
    assert "No such file" in found.error
    result = check_model([tmp_path / "missing.bin"])
    assert result.details["failed"] == ["missing.bin"]
    assert (result.reason or "").startswith("missing.bin: cannot read the file: ")


def test_weights_files_by_format_or_suffix_but_never_trainer_state(tmp_path: Path) -> None:
    """Known formats and weights suffixes hold weights; trainer state and other files do not."""
    assert is_weights(ModelFile(path=tmp_path / "x.json", format="safetensors"))
    assert is_weights(ModelFile(path=tmp_path / "model.h5", format="unknown"))
    assert not is_weights(ModelFile(path=tmp_path / "config.json", format="unknown"))
    assert not is_weights(ModelFile(path=tmp_path / "optimizer.pt", format="torch-zip"))
    assert is_auxiliary(tmp_path / "rng_state_3.pth")
    assert is_auxiliary(tmp_path / "Training_Args.bin")
    assert not is_auxiliary(tmp_path / "pytorch_model.bin")


@given(st.binary(max_size=200))
def test_detection_answers_a_known_format_for_any_bytes(data: bytes) -> None:
    """Whatever a file holds, detection answers one of FORMATS, and both detectors agree."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "blob"
        path.write_bytes(data)
        fmt = detect_format(path)
        assert fmt in FORMATS
        assert detect_file(path) == ModelFile(path=path, format=fmt)


def test_damaged_zip_never_crashes_the_check(tmp_path: Path) -> None:
    """A zip whose "version needed" field was flipped is a failed file, not an exception."""
    import zipfile  # noqa: PLC0415 - only this test builds a zip

    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 6] = 0xFF  # version needed to extract: 25.5, unsupported by zipfile
    path.write_bytes(bytes(data))
    assert detect_format(path) == "unknown"
    result = check_model(tmp_path)
    assert not result.ready
    assert result.details["failed"] == ["pytorch_model.bin"]
    assert "damaged zip" in (result.reason or "")
